"""The services the benchmark measures, started by the benchmark itself on loopback and stopped afterwards,
every process of them: our gateway, and LiteLLM's proxy in its own virtualenv against the same Redis and
upstream (its embeddings from `bench.embeddings`, the same model as ours)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VENV = ROOT / "bench" / ".venv-litellm"
LITELLM_PACKAGES = ("litellm[proxy]==1.106.2", "redisvl==0.28.0")
BENCH_KEY = "sk-bench-tenant"


@dataclass(frozen=True)
class Service:
    url: str  # the OpenAI-compatible base URL, ending in /v1
    startup_secs: float  # from spawning the process to its first answered chat completion
    pid: int


_FIRST_REQUEST = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Are you up?"}]}'


def _first_served(url: str, process: subprocess.Popen, started: float, timeout: float, what: str,
                  log: Path) -> float:
    """Seconds from `started` (the process's spawn) to the first chat completion it answers."""
    deadline = started + timeout
    headers = {"content-type": "application/json", "authorization": f"Bearer {BENCH_KEY}"}
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(f"{url}/chat/completions", content=_FIRST_REQUEST, headers=headers,
                          timeout=5).status_code == 200:
                return time.perf_counter() - started
        time.sleep(0.01)
    raise RuntimeError(f"{what} did not answer within {timeout} s; see {log}")


def _die_with_parent() -> None:
    # Linux: if the benchmark is SIGKILLed, the kernel stops the service instead of orphaning it.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(command: list[str], env: dict[str, str], cwd: Path, output: IO[bytes]) -> subprocess.Popen:
    # Its own process group: Ctrl-C reaches the benchmark only, which then stops every worker of the service.
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent)


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # workers that outlived their parent
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@contextlib.contextmanager
def gateway(*, upstream: str, workers: int, logs: Path, env: dict[str, str]) -> Iterator[Service]:
    """Our gateway as users run it (`latency-slayer serve`). The upstream should answer at once while it
    starts, so the start-up time is the gateway's own."""
    port = free_port()
    log = logs / f"gateway-{port}.log"
    settings = {"UPSTREAM_BASE_URL": upstream, "LOG_LEVEL": "warning", **env}
    url = f"http://127.0.0.1:{port}/v1"
    with log.open("wb") as output:
        started = time.perf_counter()
        process = _spawn([sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port),
                          "--workers", str(workers)], {**os.environ, **settings}, logs, output)
        try:
            yield Service(url, _first_served(url, process, started, 90, "the gateway", log), process.pid)
        finally:
            _stop(process)


def ensure_litellm() -> Path:
    """LiteLLM lives in its own virtualenv so its dependencies never meet ours."""
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet", *LITELLM_PACKAGES], check=True)
    return binary


LITELLM_CONFIG = """\
model_list:
  - model_name: gpt-4o-mini
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{upstream}", api_key: sk-bench}}
  - model_name: text-embedding-3-small
    litellm_params: {{model: openai/text-embedding-3-small, api_base: "{embeddings}", api_key: sk-bench}}
litellm_settings:
  cache: true
  cache_params:
    type: redis-semantic
    redis_url: "{redis}"
    similarity_threshold: {similarity}
    redis_semantic_cache_embedding_model: text-embedding-3-small
"""


@contextlib.contextmanager
def litellm(*, upstream: str, embeddings: str, redis_url: str, similarity: float, logs: Path) -> Iterator[Service]:
    binary = ensure_litellm()
    port = free_port()
    config = logs / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(upstream=upstream, embeddings=embeddings, redis=redis_url,
                                            similarity=similarity))
    log = logs / "litellm.log"
    url = f"http://127.0.0.1:{port}/v1"
    with log.open("wb") as output:
        started = time.perf_counter()
        process = _spawn(
            [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
            {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "LITELLM_LOG": "ERROR",
             "DISABLE_SCHEMA_UPDATE": "true", "LITELLM_MASTER_KEY": BENCH_KEY},  # the key the load generators send
            logs, output)
        try:
            yield Service(url, _first_served(url, process, started, 180, "LiteLLM", log), process.pid)
        finally:
            _stop(process)
