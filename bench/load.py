"""Load generators: a sequential httpx client for latency at concurrency 1 (every request checked), and
`wrk` for throughput, since a Python load generator tops out near 1,000 requests/s on two cores."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench-tenant"}  # services.BENCH_KEY


@dataclass(frozen=True)
class Sample:
    seconds: float
    cache: str  # the x-cache header ("" when the server sends none, e.g. LiteLLM)
    layer: str


def sequential(url: str, bodies: list[bytes]) -> list[Sample]:
    samples = []
    with httpx.Client(headers=HEADERS, timeout=30) as client:
        for body in bodies:
            started = time.perf_counter()
            response = client.post(f"{url}/chat/completions", content=body)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            samples.append(Sample(elapsed, response.headers.get("x-cache", ""),
                                  response.headers.get("x-cache-layer", "")))
    return samples


def time_to_first_byte(url: str, bodies: list[bytes]) -> list[float]:
    """Seconds until the first body byte of a streamed chat completion (the stream is read to its end)."""
    firsts = []
    with httpx.Client(headers=HEADERS, timeout=30) as client:
        for body in bodies:
            started = time.perf_counter()
            with client.stream("POST", f"{url}/chat/completions", content=body) as response:
                response.raise_for_status()
                chunks = response.iter_raw()
                next(chunks)
                firsts.append(time.perf_counter() - started)
                for _ in chunks:
                    pass
    return firsts


_SCRIPT = """
local bodies = {%s}
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer sk-bench-tenant"}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", nil, headers, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "errors": %%d, "non2xx": %%d, ' ..
    '"p50_us": %%d, "p95_us": %%d, "p99_us": %%d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(95),
    latency:percentile(99)))
end
"""


def _lua_string(body: bytes) -> str:
    return "[==[" + body.decode() + "]==]"


def wrk(url: str, bodies: list[bytes], *, connections: int, seconds: float) -> dict[str, float]:
    """Requests/s and latency percentiles (ms) of `wrk` rotating through `bodies`."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_SCRIPT % ", ".join(_lua_string(body) for body in bodies))
    try:
        output = subprocess.run(
            [binary, f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "-s", script.name,
             f"{url}/chat/completions"], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        Path(script.name).unlink()
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    return {"rps": result["requests"] / (result["duration_us"] / 1e6), "requests": result["requests"],
            "errors": result["errors"] + result["non2xx"], "p50_ms": result["p50_us"] / 1000,
            "p95_ms": result["p95_us"] / 1000, "p99_ms": result["p99_us"] / 1000}
