"""What learning keeps per scope: the verdicts on its semantic hits and its adaptive threshold. A scope is a
route and a tenant (`RequestKey.tenant`: the caller's digest, or "shared" on a shared route), the same scope its
entries live in, so nothing one tenant learns moves another's threshold, and everyone on a shared route,
who shares its entries, learns together.

Route names and tenants are the callers' to make up, so a worker keeps at most MAX_SCOPES of them (the least
recently used are forgotten here and read back from the store when used again), and the per-route summary the
dashboard and /metrics show has at most MAX_ROUTES names: its size and cost do not grow with the routes."""

from __future__ import annotations

import heapq
import statistics
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from gateway.metrics.labels import MAX_NAMES, OTHER
from gateway.wire.canonical import RequestKey

MAX_SCOPES = 10_000  # scopes one worker keeps in memory
MAX_ROUTES = MAX_NAMES  # routes the summary shows apart (those with the most verdicts); the rest as OTHER


class Scope(NamedTuple):
    route: str
    tenant: str


def scope_of(key: RequestKey) -> Scope:
    return Scope(key.route, key.tenant)


@dataclass(slots=True)
class ScopeState:
    good: int = 0
    bad: int = 0
    threshold: float | None = None  # None: the adaptive start (nothing learnt yet)
    synced: float | None = None  # monotonic time its stored state was last read here

    def blob(self, written_ms: int) -> bytes:
        return orjson.dumps([self.good, self.bad, self.threshold, written_ms])

    def adopt(self, blob: bytes) -> int:
        """Take on the state stored in `blob`; returns when (epoch ms) it was written."""
        self.good, self.bad, self.threshold, written_ms = orjson.loads(blob)
        return int(written_ms)


def blob_key(scope: Scope) -> str:
    # A new prefix, not the old per-route "learning:<route>": those blobs mixed every tenant's evidence.
    # A tenant (a hex digest, "shared" or "anonymous") holds no ":", so no two scopes share a key.
    return f"learnt:{scope.tenant}:{scope.route}"


class ScopeTable:
    """The scopes this worker knows, least recently used first."""

    def __init__(self) -> None:
        self._states: OrderedDict[Scope, ScopeState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, scope: Scope) -> ScopeState | None:
        return self._states.get(scope)

    def use(self, scope: Scope) -> ScopeState:
        """The scope's state, created if need be, now the most recently used."""
        state = self._states.get(scope)
        if state is not None:
            self._states.move_to_end(scope)
            return state
        state = self._states[scope] = ScopeState()
        if len(self._states) > MAX_SCOPES:
            self._states.popitem(last=False)
        return state

    def by_route(self, start: float | None) -> dict[str, dict[str, Any]]:
        """Per route, over its judged scopes: verdicts, measured precision, and the median threshold in force
        (`start` where nothing was learnt; None with fixed thresholds). Never per tenant: a tenant digest is no
        business of the dashboard's or of /metrics'. Two passes over at most MAX_SCOPES scopes: ~5 ms at most."""
        judged: dict[str, int] = {}
        for scope, state in self._states.items():
            if state.good or state.bad:
                judged[scope.route] = judged.get(scope.route, 0) + state.good + state.bad
        busiest = heapq.nsmallest(MAX_ROUTES, judged, key=lambda name: (-judged[name], name))
        shown = {name: _Route() for name in busiest}
        other = _Route()
        for scope, state in self._states.items():
            if state.good or state.bad:
                shown.get(scope.route, other).add(state, start)
        if other.scopes:  # no route is called that: the request parser allows no parentheses
            shown[OTHER] = other
        return {name: route.summary() for name, route in shown.items()}


class _Route:
    def __init__(self) -> None:
        self.good = self.bad = 0
        self.thresholds: list[float] = []  # one per scope; none with fixed thresholds
        self.scopes = 0

    def add(self, state: ScopeState, start: float | None) -> None:
        self.good += state.good
        self.bad += state.bad
        self.scopes += 1
        if start is not None:
            self.thresholds.append(start if state.threshold is None else state.threshold)

    def summary(self) -> dict[str, Any]:
        return {"good": self.good, "bad": self.bad, "precision": self.good / (self.good + self.bad),
                "scopes": self.scopes, "threshold": statistics.median(self.thresholds) if self.thresholds else None}
