"""`latency-slayer serve` and the signals a terminal or an orchestrator sends: a Ctrl-C (SIGINT to the whole process
group) or a SIGTERM, even one that comes while the server is still starting, stops it gracefully with status 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.support.processes import clean_env, wait_healthy
from tests.support.redis_server import free_port


def _serve(fake_upstream, tmp_path, workers: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = clean_env(UPSTREAM_BASE_URL=fake_upstream.base_url, OPENAI_API_KEY="sk-upstream", LOG_LEVEL="info")
    process = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port), "--workers", workers],
                               env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)  # a process group of its own, as a terminal's job
    return process, f"http://127.0.0.1:{port}"


def _stopped(process: subprocess.Popen) -> tuple[int, str]:
    try:
        _, errors = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)
    return process.returncode, errors


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_server_starts_stops_it(fake_upstream, tmp_path, signum: int) -> None:
    process, _ = _serve(fake_upstream, tmp_path, "1")
    assert process.stdout is not None
    assert "listening on" in process.stdout.readline()  # about to build the app and serve it
    process.send_signal(signum)
    code, errors = _stopped(process)
    assert code == 0 and "stopping: not ready" in errors and "Traceback" not in errors, errors


def test_ctrl_c_stops_every_worker(fake_upstream, tmp_path) -> None:
    process, url = _serve(fake_upstream, tmp_path, "2")
    wait_healthy(url, process)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C: to the parent and to each worker
    code, errors = _stopped(process)
    assert code == 0 and errors.count("stopping: not ready") == 2 and "Traceback" not in errors, errors
