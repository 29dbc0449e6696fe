"""HTTP/2 to the upstream (UPSTREAM_HTTP2): an https upstream that offers h2 in its TLS handshake is spoken to in
HTTP/2, one that does not (or the setting off) in HTTP/1.1, and a plain-http upstream always in HTTP/1.1. The
h2 upstream is hypercorn serving a tiny ASGI app over real TLS with a throw-away certificate."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from gateway.upstream import UpstreamClient
from tests.support.tls import make_certificate


async def _echo_version(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    body = scope["http_version"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`(base_url, ca_file)` of an https server that offers h2 and http/1.1 by ALPN."""
    certificate = make_certificate(tmp_path_factory.mktemp("tls"))
    if certificate is None:
        pytest.skip("openssl is not installed")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    config = Config()
    config.bind = [f"fd://{listener.fileno()}"]
    config.certfile, config.keyfile = str(certificate.cert), str(certificate.key)
    config.accesslog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(serve(_echo_version, config, shutdown_trigger=stop.wait),), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/v1", certificate.cert
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        listener.detach()  # hypercorn owns the descriptor and has closed it


async def _version(base_url: str, *, http2: bool) -> str:
    client = UpstreamClient(base_url, connect_timeout=5, timeout=10, http2=http2)
    try:
        versions = set()
        for _ in range(3):  # also on a reused connection
            response = await client.send("GET", "/models")
            assert response.status == 200
            versions.add((await response.read()).decode())
        assert len(versions) == 1
        return versions.pop()
    finally:
        await client.close()


@pytest.mark.parametrize(("http2", "expected"), [(True, "2"), (False, "1.1")])
async def test_an_https_upstream_offering_h2_gets_it_when_enabled(
        tls_upstream: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, http2: bool, expected: str) -> None:
    base_url, ca_file = tls_upstream
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # httpx trusts the throw-away CA through this
    assert await _version(base_url, http2=http2) == expected


async def test_the_setting_reaches_the_client_and_plain_http_stays_http_1(make_gateway) -> None:
    for value, expected in (("true", True), ("false", False)):
        gateway = make_gateway("memory", UPSTREAM_HTTP2=value)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
            assert (await client.get("/healthz")).json()["upstream"]["http2"] is expected
            reply = await client.post("/v1/chat/completions", json={
                "model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"http2 {value}?"}]})
        assert reply.status_code == 200 and reply.headers["x-cache"] == "miss"
