"""Load generators: a sequential httpx client for latency at concurrency 1 (every answer's cache verdict read),
and `wrk` for throughput, since a Python load generator tops out near 1,000 requests/s on two cores."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
# services.BENCH_KEY; Anthropic's Messages API also wants its version, which the OpenAI-compatible APIs ignore.
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench-tenant",
           "anthropic-version": "2023-06-01"}


def served_from_cache(headers: Mapping[str, str]) -> bool:
    """Ours says `x-cache: hit`; LiteLLM names the cache entry that answered in `x-litellm-cache-key`."""
    return headers.get("x-cache") == "hit" or bool(headers.get("x-litellm-cache-key"))


@dataclass(frozen=True)
class Sample:
    seconds: float
    hit: bool
    layer: str  # ours: "exact" or "semantic" on hits


def _timed(client: httpx.Client, url: str, body: bytes) -> Sample:
    started = time.perf_counter()
    response = client.post(url, content=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return Sample(elapsed, served_from_cache(response.headers), response.headers.get("x-cache-layer", ""))


def sequential(url: str, bodies: list[bytes], *, path: str = "/chat/completions") -> list[Sample]:
    with httpx.Client(headers=HEADERS, timeout=30) as client:
        return [_timed(client, f"{url}{path}", body) for body in bodies]


def interleaved(url: str, requests: Mapping[T, tuple[str, list[bytes]]]) -> dict[T, list[Sample]]:
    """`sequential` for several request classes ((path, bodies) each, with a connection of its own) taking turns
    request by request, in the mapping's order: a pause of a busy machine slows them alike."""
    with contextlib.ExitStack() as stack:
        clients = {name: stack.enter_context(httpx.Client(headers=HEADERS, timeout=30)) for name in requests}
        samples: dict[T, list[Sample]] = {name: [] for name in requests}
        for turn in range(max(len(bodies) for _, bodies in requests.values())):
            for name, (path, bodies) in requests.items():
                if turn < len(bodies):
                    samples[name].append(_timed(clients[name], f"{url}{path}", bodies[turn]))
    return samples


def time_to_first_byte(url: str, bodies: list[bytes]) -> list[Sample]:
    """Seconds until the first body byte of a streamed chat completion (the stream is read to its end)."""
    samples = []
    with httpx.Client(headers=HEADERS, timeout=30) as client:
        for body in bodies:
            started = time.perf_counter()
            with client.stream("POST", f"{url}/chat/completions", content=body) as response:
                response.raise_for_status()
                chunks = response.iter_raw()
                next(chunks)
                samples.append(Sample(time.perf_counter() - started, served_from_cache(response.headers),
                                      response.headers.get("x-cache-layer", "")))
                for _ in chunks:
                    pass
    return samples


# Each wrk thread walks the bodies file from its own offset with a stride of the thread count, so no body is
# sent twice (a fresh paraphrase stays fresh) unless the run outlasts the file: `repeated_bodies` says so.
_SCRIPT = """
local bodies = {}
for line in io.lines("%(path)s") do bodies[#bodies + 1] = line end
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer sk-bench-tenant",
                 ["anthropic-version"] = "2023-06-01"}
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end
function init(args)
  hits = 0
  sent = 0
end
function request()
  local i = (id + sent * %(threads)d) %% #bodies + 1
  sent = sent + 1
  return wrk.format("POST", nil, headers, bodies[i])
end
function response(status, headers, body)
  if headers["x-cache"] == "hit" or headers["x-litellm-cache-key"] then hits = hits + 1 end
end
function done(summary, latency, requests)
  local hits, sent = 0, 0
  for _, thread in ipairs(threads) do
    hits = hits + thread:get("hits")
    sent = sent + thread:get("sent")
  end
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "hits": %%d, "sent": %%d, "bodies": %%d, ' ..
    '"duration_us": %%d, "errors": %%d, "non2xx": %%d, "p50_us": %%d, "p95_us": %%d, "p99_us": %%d}\\n',
    summary.requests, hits, sent, #bodies, summary.duration, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def wrk(url: str, bodies: list[bytes], *, connections: int, seconds: int,
        path: str = "/chat/completions") -> dict[str, float | int | bool]:
    """Requests/s, hits/s and latency percentiles (ms) of `wrk` walking through `bodies`."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    threads = min(2, connections)
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as work:
        lines = Path(work, "bodies.jsonl")
        lines.write_bytes(b"\n".join(bodies) + b"\n")
        script = Path(work, "script.lua")
        script.write_text(_SCRIPT % {"path": lines, "threads": threads})
        output = subprocess.run(
            [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script),
             f"{url}{path}"], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    elapsed = result["duration_us"] / 1e6
    return {"rps": round(result["requests"] / elapsed, 1), "hits_per_s": round(result["hits"] / elapsed, 1),
            "requests": result["requests"], "hits": result["hits"], "errors": result["errors"] + result["non2xx"],
            "p50_ms": result["p50_us"] / 1000, "p95_ms": result["p95_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
            "repeated_bodies": result["sent"] > result["bodies"]}
