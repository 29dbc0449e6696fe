"""What the cache policy's verbs take and give: the `Ask` an endpoint builds for a request, and what `decide` may
answer besides a `Hit`: `Following` an identical request on its way upstream, or a `Miss` that goes upstream
itself, with what settling its answer needs. `Recall` is what answers kept part by part give back. Which flight
an ask shares (`shared_flight`) and the temperature admission reads (`number`) are read here for the client's
misses and the background ones alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np

from gateway.cache.layers import Lookup
from gateway.flight.flight import Flight, Head, Reader
from gateway.wire.canonical import SHARED_TENANT, RequestKey, digest
from gateway.wire.controls import Controls


@dataclass(slots=True)  # not frozen: built on every request, and a frozen init costs a hit ~1 µs
class Ask:
    """One request, as the cache sees it."""

    key: RequestKey | None  # None: the cache must not serve it; it goes upstream as a bypass
    controls: Controls
    caller: str  # the caller's own tenant, which a rating of a served hit must come from
    api_key: str | None = field(repr=False)  # the caller's upstream key, for a remote embedder: never in a repr
    temperature: Any
    stream: bool
    variant: tuple[bytes, ...] = ()  # what else decides the bytes a client is sent: only requests alike share a flight
    private: bool = False  # its answer may be one only its own tenant may be served (`CachedCall.may_be_private`)


@dataclass(frozen=True)
class Following:
    """An identical request's upstream answer, which this one is sent too: whole (`body`), or as it arrives
    (`reader`, the caller's to close). `head` carries only what a follower may see of the leader's answer."""

    head: Head
    body: bytes | None
    reader: Reader | None
    usage: Any


class Miss:
    """A request that goes upstream, and what settling its answer needs. Used as a context manager around the
    upstream call: a miss that ends with nothing published lets its followers go upstream themselves."""

    def __init__(self, ask: Ask, lookup: Lookup, *, shadowed: bool, admitted: bool) -> None:
        self.ask = ask
        self.key = ask.key
        self.vector: np.ndarray | None = lookup.vector
        self.shadowed = shadowed  # the cached answer exists: only compare, never store again
        self.judged = lookup.hit if shadowed else lookup.probe
        # What may share an upstream call is what could be served from the cache: a fresh answer for a request
        # that asked for one too random to store is its own.
        self.shareable = not shadowed and admitted
        self.flight: Flight | None = None
        # What its answer is stored as written by, when no client asked it: a warming run's request, or (set by the
        # policy) a background refresh or prefetch; a client's own miss clears what wrote the entry before.
        self.origin = "warming" if ask.controls.warming else ""

    @property
    def state(self) -> str:
        """The `x-cache` a miss is sent: `bypass` when the cache took no part."""
        return "miss" if self.key is not None else "bypass"

    def __enter__(self) -> Miss:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.flight is not None and self.flight.head is None:
            self.flight.fail()  # nothing to share (an error, a cancelled request)


@dataclass(frozen=True)
class Recall:
    """The exact layer's answer for each part of a request kept part by part (each input of an embeddings
    request): what it holds for each key (None where nothing, or everywhere when the whole would be too big to
    put together), and the `x-cache` state a miss goes upstream as."""

    parts: list[bytes | None]
    state: str


def shared_flight(key: RequestKey, ask: Ask) -> str:
    """The flight identical requests share: the same answer, sent as the same bytes; on a shared route, only with
    their own tenant's when the answer may be private (a private answer is never stored for the route, but a
    follower is sent it as it arrives)."""
    own = (ask.caller.encode(),) if key.tenant == SHARED_TENANT and ask.private else ()
    return digest(key.exact.encode(), *ask.variant, *own)


def number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) else None
