"""The gateway as an operator runs it: `python -m gateway` in a subprocess with a clean environment (this
checkout's code, none of the caller's settings), waited for until healthy; and settings read without a .env."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
NO_DOTENV = Path("/nonexistent/.env")


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway", *args], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def clean_env(**values: str) -> dict[str, str]:
    # SSL_CERT_DIR: the cheap trust of tests/support/ca_directory.py, for the subprocess's clients too.
    env = {name: value for name, value in os.environ.items()
           if name in {"PATH", "HOME", "LANG", "XDG_CACHE_HOME", "LATENCY_SLAYER_MODEL_DIR", "VIRTUAL_ENV",
                       "SSL_CERT_DIR"}}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONFAULTHANDLER"] = "1"  # a process that hangs can be made to say where (`exit_status`)
    return {**env, **values}


def exit_status(process: subprocess.Popen, timeout: float) -> int:
    """The process's exit status once it exits within `timeout`; otherwise a failure that shows where each of its
    threads was (SIGABRT makes the fault handler print their stacks) and what it last wrote."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        _, stderr = process.communicate(timeout=10)
        raise AssertionError(f"still running {timeout} s later; its stderr ended with:\n{stderr[-12_000:]}") from None


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the gateway did not start")
