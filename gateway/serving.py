"""The hypercorn settings every way of serving the gateway shares (the CLI, the demo, the tests' served gateway)."""

from __future__ import annotations

from hypercorn.config import Config


def server_config(bind: str, *, graceful_timeout: float) -> Config:
    config = Config()
    config.bind = [bind]
    config.graceful_timeout = graceful_timeout
    # hypercorn names itself in a `server` header beside the one a relayed upstream answer carries: a client
    # would see two. The upstream's is kept, as a client talking to the API directly would see it.
    config.include_server_header = False
    return config
