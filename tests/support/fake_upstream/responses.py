"""How the fake upstream answers, byte by byte: a whole body, a chunked stream one HTTP chunk per event (its pauses
noticing at once a client that hung up), and the misbehaviours a test asks for: a body cut short, a connection
dropped mid-stream, malformed JSON or SSE, a body in a Content-Encoding."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.fake_upstream.behaviours import Behaviour
from tests.support.fake_upstream.encodings import encode_body
from tests.support.fake_upstream.records import StreamRecord
from tests.support.fake_upstream.server import ClientGone, Server


class Responder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body are written separately: with Nagle's algorithm the body would wait for the client's
    # delayed ACK (~40 ms), adding that to every answer's latency.
    disable_nagle_algorithm = True
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    # An idle keep-alive connection is dropped after this long, so a forgotten client can't pin a thread.
    timeout = 30
    server: Server
    _encode_as: Behaviour | None = None  # this request's `encode_next`

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.server.owner._stopping.wait(seconds):
            raise ClientGone

    def _pause(self, seconds: float) -> None:
        """Wait `seconds` between two pieces of a stream, noticing at once a client that hung up (its socket
        readable with nothing to read) or the server stopping."""
        if seconds <= 0:
            return
        deadline = time.monotonic() + seconds
        # poll, not select: a test process holding many sockets gives this one a descriptor above select's 1024.
        poller = select.poll()
        poller.register(self.connection, select.POLLIN)
        readable = poller.poll(seconds * 1000)
        if self.server.owner._stopping.is_set():
            raise ClientGone
        if readable:
            try:
                gone = not self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                gone = True
            if gone:
                raise ClientGone
            self._wait(deadline - time.monotonic())  # the client sent more (its next request): wait on

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(body).encode(), "application/json", headers)

    def _encoded(self, payload: bytes, headers: dict[str, str] | None) -> tuple[bytes, dict[str, str]]:
        """The body and headers as an `encode_next` behaviour asked, else as they are."""
        if self._encode_as is None:
            return payload, headers or {}
        encoding, corrupt = self._encode_as.encoding, self._encode_as.corrupt
        return encode_body(payload, encoding, corrupt=corrupt), {**(headers or {}), "Content-Encoding": encoding}

    def _send_bytes(
        self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        payload, headers = self._encoded(payload, headers)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_truncated(self, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2])
        self._abort()

    def _send_malformed(self, kind: str) -> None:
        if kind == "sse":
            events = [
                b'data: {"id": "chatcmpl-broken", "object": "chat.completion.chunk", "choices": [{"index": 0,'
                b' "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}\n\n',
                b"data: this is {not json\n\n",
                b"data: [DONE]\n\n",
            ]
            self._send_stream(events, "text/event-stream")
        else:
            self._send_bytes(200, b'{"id": "chatcmpl-broken", "choices": [{"mess', "application/json")

    def _send_stream(
        self,
        pieces: Iterable[bytes],  # made as they are sent: the head goes out before the first is ready
        content_type: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        abort: bool = False,
        chunk_delay: float | None = None,
        record: StreamRecord | None = None,
    ) -> None:
        delay = self.server.owner.chunk_delay if chunk_delay is None else chunk_delay
        if self._encode_as is not None:
            encoded, headers = self._encoded(b"".join(pieces), headers)
            pieces = [encoded]  # compressed as one body, sent as one chunk
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        with _recorded(record):
            for i, piece in enumerate(pieces):
                if i:
                    self._pause(delay)
                # One HTTP chunk per event, written straight to the socket (wfile is unbuffered).
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if abort:
                self._abort()
                return
            self._wait(self.server.owner.stream_linger)
            self.wfile.write(b"0\r\n\r\n")

    def _abort(self) -> None:
        # No chunked terminator and no Content-Length worth of bytes: the client sees a truncated body.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        raise ClientGone


@contextlib.contextmanager
def _recorded(record: StreamRecord | None) -> Iterator[None]:
    """Note in `record` how a stream ended: run to its end, or cut short by a client that went away."""
    if record is None:
        yield
        return
    try:
        yield
    except BaseException:
        record.gone_early = True
        raise
    else:
        record.finished = True
    finally:
        record.ended = time.monotonic()
