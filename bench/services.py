"""Everything the benchmark measures, started by the benchmark itself on loopback and stopped afterwards:
Redis 8 and the fake upstream (the same helpers as the tests), our gateway, and LiteLLM's proxy in its own
virtualenv against the same Redis and upstream."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VENV = ROOT / "bench" / ".venv-litellm"
LITELLM_PACKAGES = ("litellm[proxy]==1.106.2", "redisvl==0.28.0")
BENCH_KEY = "sk-bench-tenant"


@dataclass(frozen=True)
class Service:
    url: str  # the OpenAI-compatible base URL, ending in /v1
    startup_secs: float  # from process start to its first answered request
    pid: int


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float, what: str, log: Path) -> float:
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return time.perf_counter() - started
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not come up within {timeout} s; see {log}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextlib.contextmanager
def gateway(*, upstream: str, workers: int, logs: Path, env: dict[str, str]) -> Iterator[Service]:
    """Our gateway as users run it (`latency-slayer serve`)."""
    port = free_port()
    log = logs / f"gateway-{port}.log"
    settings = {"UPSTREAM_BASE_URL": upstream, "LOG_LEVEL": "warning", **env}
    with log.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            env={**os.environ, **settings}, cwd=logs, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/healthz", process, 90, "the gateway", log)
            yield Service(f"http://127.0.0.1:{port}/v1", time.perf_counter() - started, process.pid)
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
    litellm_params: {{model: openai/text-embedding-3-small, api_base: "{upstream}", api_key: sk-bench}}
litellm_settings:
  cache: true
  cache_params:
    type: redis-semantic
    redis_url: "{redis}"
    similarity_threshold: {similarity}
    redis_semantic_cache_embedding_model: text-embedding-3-small
"""


@contextlib.contextmanager
def litellm(*, upstream: str, redis_url: str, similarity: float, logs: Path) -> Iterator[Service]:
    binary = ensure_litellm()
    port = free_port()
    config = logs / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(upstream=upstream, redis=redis_url, similarity=similarity))
    log = logs / "litellm.log"
    with log.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
            env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
                 "LITELLM_LOG": "ERROR", "DISABLE_SCHEMA_UPDATE": "true",
                 "LITELLM_MASTER_KEY": BENCH_KEY},  # the key the load generators send
            cwd=logs, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/health/liveliness", process, 180, "LiteLLM", log)
            yield Service(f"http://127.0.0.1:{port}/v1", time.perf_counter() - started, process.pid)
        finally:
            _stop(process)
