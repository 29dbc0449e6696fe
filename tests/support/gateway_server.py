"""The real gateway app served by hypercorn on a real loopback socket, in a background thread with its own
event loop, so the sync and async OpenAI SDK clients can talk to it like to any deployment."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import httpx
from hypercorn.asyncio import serve

from gateway.assembly import create_app
from gateway.serving import server_config
from gateway.settings import Settings, load_settings


def settings_for(env: dict[str, str]) -> Settings:
    """Settings from `env` only: the developer's shell and `.env` must not leak into a test."""
    return load_settings(environ=env, dotenv=Path("/nonexistent/.env"))


class ServedGateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v1"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=f"gateway-{self.port}", daemon=True)
        self._failure: BaseException | None = None
        self.app = create_app(settings)

    def _run(self) -> None:
        config = server_config(f"fd://{self._socket.fileno()}", graceful_timeout=2)
        config.accesslog = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        try:
            self._loop.run_until_complete(serve(self.app, config, shutdown_trigger=self._stop.wait))  # type: ignore[arg-type]
        except BaseException as error:  # surfaced by start()
            self._failure = error
        finally:
            self._loop.close()

    def start(self, timeout: float = 30.0) -> ServedGateway:
        self._socket.listen(128)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._failure is not None:
                raise RuntimeError("the gateway failed to start") from self._failure
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.01)  # a gateway starts in ~0.3 s: a coarser poll is a tenth of it, a thousand times
        raise RuntimeError(f"the gateway did not answer /healthz within {timeout} s")

    @property
    def gateway(self):  # the app's shared state, for tests that inspect the store directly
        return self.app.state.gateway

    def run(self, coroutine):  # run a coroutine on the gateway's own loop (its store clients live there)
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def drain(self) -> None:
        """Wait until deferred cache writes are done, so the next request can hit."""
        self.run(self.gateway.drain())

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=15)
        if self._thread.ident is not None:
            self._socket.detach()  # hypercorn took the descriptor over and closed it
        else:
            self._socket.close()

    def __enter__(self) -> ServedGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
