"""A served worker leaves what its start-up built out of the garbage collector's walks (`gc.freeze`), once the app
says it started, and only then."""

from __future__ import annotations

import gc

from starlette.types import Message, Receive, Scope, Send

from gateway.serving import FrozenOnceStarted


async def _nothing() -> Message:
    raise AssertionError("not read")


async def test_what_start_up_built_is_frozen_once_the_app_started() -> None:
    frozen_when_told: list[tuple[str, int]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "http.response.start", "status": 204, "headers": []})

    async def send(message: Message) -> None:
        frozen_when_told.append((message["type"], gc.get_freeze_count()))

    gc.unfreeze()
    try:
        await FrozenOnceStarted(app)({"type": "http"}, _nothing, send)
        assert frozen_when_told == [("http.response.start", 0)]  # a request freezes nothing
        await FrozenOnceStarted(app)({"type": "lifespan"}, _nothing, send)
        kind, frozen = frozen_when_told[-1]
        assert kind == "lifespan.startup.complete" and frozen > 0  # frozen before the server hears it started
    finally:
        gc.unfreeze()
