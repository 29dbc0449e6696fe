"""A loopback OpenAI-like upstream that streams chat answers slowly and records, per request, whether the
client (the gateway) hung up before the stream ended, and how many connections are open right now.

FakeUpstream swallows a client that goes away; disconnect tests need to *see* it: a gateway that keeps
reading an upstream stream nobody listens to any more pays for tokens and holds a connection per client.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

__all__ = ["StreamRecord", "TrackingUpstream"]

_MAX_HEAD = 64 * 1024


@dataclass
class StreamRecord:
    prompt: str
    started: float  # time.monotonic() when the answer's headers were sent
    ended: float | None = None  # when the stream finished or the client was seen gone
    finished: bool = False  # every event and [DONE] were sent
    gone_early: bool = False  # the client closed the connection before the end


class _Gone(Exception):
    pass


class TrackingUpstream:
    """`events` content chunks per streamed answer, `event_delay` seconds apart; non-streamed chat is
    answered at once. Every connection is served by its own daemon thread, all bounded by `stop()`."""

    def __init__(self, *, events: int = 200, event_delay: float = 0.02) -> None:
        self.events = events
        self.event_delay = event_delay
        self._lock = threading.Lock()
        self._records: list[StreamRecord] = []
        self._open = 0
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # ---- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> TrackingUpstream:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(256)
        listener.settimeout(0.05)
        self._listener = listener
        acceptor = threading.Thread(target=self._accept_loop, name="tracking-upstream", daemon=True)
        self._threads.append(acceptor)
        acceptor.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> TrackingUpstream:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._listener is not None
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    # ---- records ----------------------------------------------------------------------------------------

    @property
    def records(self) -> list[StreamRecord]:
        with self._lock:
            return list(self._records)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return self._open

    # ---- serving ----------------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), name="tracking-upstream-conn", daemon=True)
            with self._lock:
                self._open += 1
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            conn.settimeout(0.2)
            while not self._stopping.is_set():
                request, buffer = self._read_request(conn, buffer)
                if request is None:
                    return
                self._answer(conn, request)
        except (_Gone, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self._lock:
                self._open -= 1

    def _read_request(self, conn: socket.socket, buffer: bytes) -> tuple[dict | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            chunk = self._recv(conn)
            if not chunk:
                return None, b""
            buffer += chunk
            if len(buffer) > _MAX_HEAD:
                return None, b""
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(buffer) < length:
            chunk = self._recv(conn)
            if not chunk:
                return None, b""
            buffer += chunk
        body, buffer = buffer[:length], buffer[length:]
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            parsed = {}
        return (parsed if isinstance(parsed, dict) else {}), buffer

    def _recv(self, conn: socket.socket) -> bytes:
        while not self._stopping.is_set():
            try:
                return conn.recv(65536)
            except TimeoutError:
                continue
        return b""

    def _answer(self, conn: socket.socket, request: dict) -> None:
        messages = request.get("messages") or [{}]
        prompt = str(messages[-1].get("content", "")) if isinstance(messages[-1], dict) else ""
        model = str(request.get("model", "gpt-4o-mini"))
        head = {"id": f"chatcmpl-track-{time.monotonic_ns()}", "created": int(time.time()), "model": model}
        if not request.get("stream"):
            body = json.dumps({**head, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": f"answer to {prompt}"},
                 "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 3,
                                                      "total_tokens": 4}}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            return
        record = StreamRecord(prompt=prompt, started=time.monotonic())
        with self._lock:
            self._records.append(record)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            event = {**head, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(event)}\n\n".encode()

        pieces = [chunk({"role": "assistant", "content": ""})]
        pieces += [chunk({"content": f"w{i} "}) for i in range(self.events)]
        pieces += [chunk({}, "stop"), b"data: [DONE]\n\n"]
        try:
            for i, piece in enumerate(pieces):
                if i:
                    self._pause(conn)
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.sendall(b"0\r\n\r\n")
            record.finished = True
        except (_Gone, OSError):
            record.gone_early = True
            raise _Gone from None
        finally:
            record.ended = time.monotonic()

    def _pause(self, conn: socket.socket) -> None:
        """Wait `event_delay`, but notice at once a peer that closed (readable with nothing to read)."""
        readable, _, _ = select.select([conn], [], [], self.event_delay)
        if self._stopping.is_set():
            raise _Gone
        if readable:
            try:
                data = conn.recv(1, socket.MSG_PEEK)
            except OSError:
                raise _Gone from None
            if not data:
                raise _Gone
