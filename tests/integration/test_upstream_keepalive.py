"""Upstream connections that die under the gateway: a keep-alive connection the upstream closes as the gateway
reuses it is retried once on a new connection (no 502), and nothing that may have reached a working upstream
is ever sent twice (how each httpx error maps onto the gateway's own: unit/test_upstream_errors.py)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from gateway.errors import UpstreamProtocolError, UpstreamTimeout
from gateway.upstream import UpstreamClient
from tests.support.fake_upstream import CHAT_PATH, EMBEDDINGS_PATH


def _gap(i: int) -> None:
    time.sleep((i % 11) / 1000)  # 0-10 ms: some requests come just as the upstream closes the connection


def test_an_upstream_closing_idle_connections_fails_no_request(make_gateway, fake_upstream) -> None:
    """The upstream closes each connection 20 ms after answering, without `Connection: close`: a request sent on
    it meanwhile is reset (without the retry, dozens of these fail). Chat (JSON and SSE), embeddings and a
    passthrough GET all come through, each reaching the upstream once."""
    fake_upstream.close_after_answer = 0.02
    gateway = make_gateway("memory")
    statuses = []
    with httpx.Client(base_url=gateway.base_url, timeout=10) as client:
        for i in range(132):
            kind = i % 4
            if kind < 2:
                body = {"model": "gpt-4o-mini", "stream": kind == 1,
                        "messages": [{"role": "user", "content": f"question {uuid.uuid4().hex}"}]}
                response = client.post("/chat/completions", json=body, headers={"cache-control": "no-store"})
            elif kind == 2:
                response = client.post("/embeddings", json={"model": "text-embedding-3-small",
                                                             "input": uuid.uuid4().hex, "dimensions": 8})
            else:
                response = client.get("/models")
            whole = kind != 1 or response.text.endswith("data: [DONE]\n\n")
            statuses.append(response.status_code if whole else "cut")
            _gap(i)
    assert statuses == [200] * 132, [status for status in statuses if status != 200]
    # A reset request never reached the fake (it closes without reading): each was answered exactly once.
    assert (fake_upstream.calls(CHAT_PATH), fake_upstream.calls(EMBEDDINGS_PATH),
            fake_upstream.calls("/v1/models")) == (66, 33, 33)


class _DyingUpstream:
    """A real server on 127.0.0.1 that reads each request's head and then fails it as `mode` says: "reset" at
    once, "late" (reset after 1.5 s), "answered" (a response head and the first body byte, then closed) or
    "silent". It counts the requests it received."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self._listener.accept()
                threading.Thread(target=self._fail, args=(connection,), daemon=True).start()

    def _fail(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head:
                data = connection.recv(65536)
                if not data:
                    return
                head += data
            self.requests += 1
            if self.mode == "answered":  # then closed: a reset could overtake the answer
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99\r\n\r\n{")
                return
            if self.mode in ("late", "silent"):
                self._stop.wait(1.5 if self.mode == "late" else 30)
            # SO_LINGER 0: closing sends a reset, as a server does that drops a connection with unread data.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


@pytest.fixture
def dying() -> Iterator[Callable[[str], _DyingUpstream]]:
    started: list[_DyingUpstream] = []

    def start(mode: str) -> _DyingUpstream:
        started.append(_DyingUpstream(mode))
        return started[-1]

    yield start
    for server in started:
        server.close()


async def _body() -> AsyncIterator[bytes]:
    yield b'{"model": "m", '
    yield b'"messages": []}'


@pytest.mark.parametrize(("mode", "content", "sent", "error"), [
    ("reset", b"{}", 2, UpstreamProtocolError),  # a body in hand is sent once more, on a new connection
    ("reset", None, 2, UpstreamProtocolError),
    ("reset", "streamed", 1, UpstreamProtocolError),  # partly consumed by now: never sent again
    ("late", b"{}", 1, UpstreamProtocolError),  # failed too late: the upstream may have worked on it
    ("answered", b"{}", 1, UpstreamProtocolError),  # the answer had started
    ("silent", b"{}", 1, UpstreamTimeout),  # a timeout is never retried
], ids=["reset-bytes", "reset-empty", "reset-streamed", "late", "answered", "silent"])
async def test_only_a_request_that_cannot_have_been_worked_on_is_sent_again(dying, mode: str, content: object,
                                                                          sent: int, error: type) -> None:
    server = dying(mode)
    client = UpstreamClient(server.base_url, connect_timeout=2, timeout=0.5 if mode == "silent" else 10)
    try:
        with pytest.raises(error):
            answer = await client.send("POST", "/chat/completions",
                                       content=_body() if content == "streamed" else content)
            await answer.read()
    finally:
        await client.close()
    assert server.requests == sent
