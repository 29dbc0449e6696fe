"""The fake upstream's HTTP/1.1 server on 127.0.0.1: a thread per connection, each kept so that the connections
can be counted while it runs and cut and joined when it stops."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.fake_upstream.upstream import FakeUpstream


class ClientGone(Exception):
    """The peer closed the connection (or the server is stopping) while we were answering."""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's 5 would drop the SYNs of a burst of new connections (a client retries one after a second)
    request_queue_size = 256

    def __init__(self, owner: FakeUpstream, handler: type[BaseHTTPRequestHandler]) -> None:
        self.owner = owner
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    @property
    def open_connections(self) -> int:
        with self._connections_lock:
            return len(self._connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Unlike ThreadingMixIn we keep every connection so stop() can cut idle keep-alive ones and join.
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="fake-upstream-conn",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            if not self.owner._stopping.is_set():
                self.handle_error(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-answer is routine in these tests

    def close_connections(self, timeout: float) -> list[threading.Thread]:
        with self._connections_lock:
            items = list(self._connections.items())
        for sock, _ in items:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in items:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for _, t in items if t.is_alive()]
