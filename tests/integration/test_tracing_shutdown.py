"""Stopping a traced gateway whose collector does not answer: the spans still waiting are given `FLUSH_SECS`,
not the 30 s the OpenTelemetry SDK would wait, so the process still exits within its grace period."""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path

import httpx

from gateway.otel import FLUSH_SECS
from tests.support.processes import clean_env, cli, wait_healthy
from tests.support.redis_server import free_port


class HungCollector:
    """Accepts connections on 127.0.0.1 and never answers: a collector that hangs."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self._held.append(self._listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self._listener.close()
        for connection in self._held:
            connection.close()


def test_a_hung_collector_does_not_hold_the_stop(tmp_path: Path, fake_upstream) -> None:
    collector = HungCollector()
    port = free_port()
    # Spans wait for the stop (no batch is sent before), whose flush would take the exporter's 10 s timeout.
    env = clean_env(UPSTREAM_BASE_URL=fake_upstream.base_url, OPENAI_API_KEY="sk-upstream", LOG_LEVEL="warning",
                    OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
                    OTEL_BSP_SCHEDULE_DELAY="600000", SHUTDOWN_DELAY_SECS="0", SHUTDOWN_GRACE_SECS="1")
    process = cli("serve", "--host", "127.0.0.1", "--port", str(port), env=env, cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        answer = httpx.post(f"{url}/v1/chat/completions", timeout=10, headers={"authorization": "Bearer sk-client"},
                            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Traced?"}]})
        assert answer.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=FLUSH_SECS + 4) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
        collector.close()
