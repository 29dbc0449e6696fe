"""What learning keeps per scope: the verdicts on its semantic hits (also per step of distance, for the wrong-hit
budget: see `gateway.cache.budget`) and its adaptive threshold. A scope is a route and a tenant
(`RequestKey.tenant`: the caller's digest, or "shared" on a shared route), the same scope its entries live in, so
nothing one tenant learns moves another's threshold, and everyone on a shared route, who shares its entries,
learns together.

Route names and tenants are the callers' to make up, so a worker keeps at most MAX_SCOPES of them (the least
recently used are forgotten here and read back from the store when used again), and the per-route summary the
dashboard and /metrics show has at most MAX_ROUTES names: its size and cost do not grow with the routes."""

from __future__ import annotations

import heapq
import statistics
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from gateway.cache import budget
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
    verdicts: budget.Verdicts = field(default_factory=dict)
    choice: budget.Choice | None = None  # the wrong-hit budget's threshold, once chosen on these verdicts

    def blob(self, written_ms: int) -> bytes:
        steps = [[step, good, bad] for step, (good, bad) in sorted(self.verdicts.items())]
        return orjson.dumps([self.good, self.bad, self.threshold, written_ms, steps])

    def adopt(self, blob: bytes) -> int:
        """Take on the state stored in `blob`; returns when (epoch ms) it was written."""
        stored = orjson.loads(blob)
        self.good, self.bad, self.threshold, written_ms = stored[:4]
        # A state stored before verdicts were kept per step has none: the budget starts it exact only.
        self.verdicts = {int(step): [int(good), int(bad)] for step, good, bad in (stored[4] if len(stored) > 4 else ())}
        self.choice = None
        return int(written_ms)

    def record(self, distance: float, good: bool) -> None:
        if good:
            self.good += 1
        else:
            self.bad += 1
        budget.add(self.verdicts, distance, good)
        self.choice = None


Budgeted = Callable[[Scope, ScopeState], tuple[float, budget.Choice] | None]  # a scope's budget and its choice


def _unbudgeted(scope: Scope, state: ScopeState) -> None:
    return None


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

    def by_route(self, start: float | None, budgeted: Budgeted = _unbudgeted) -> dict[str, dict[str, Any]]:
        """Per route, over its judged scopes: verdicts, measured precision, and the median threshold in force
        (`start` where nothing was learnt; None with fixed thresholds); on a route with a wrong-hit budget, the
        budget's threshold, and the wrong-hit rate measured at it with its interval, on the verdicts behind it.
        Never per tenant: a tenant digest is no business of the dashboard's or of /metrics'. Two passes over at
        most MAX_SCOPES scopes: ~5 ms at most."""
        judged: dict[str, int] = {}
        for scope, state in self._states.items():
            if state.good or state.bad:
                judged[scope.route] = judged.get(scope.route, 0) + state.good + state.bad
        busiest = heapq.nsmallest(MAX_ROUTES, judged, key=lambda name: (-judged[name], name))
        shown = {name: _Route() for name in busiest}
        other = _Route()
        for scope, state in self._states.items():
            if state.good or state.bad:
                shown.get(scope.route, other).add(state, start, budgeted(scope, state))
        if other.scopes:  # no route is called that: the request parser allows no parentheses
            shown[OTHER] = other
        return {name: route.summary() for name, route in shown.items()}


class _Route:
    def __init__(self) -> None:
        self.good = self.bad = 0
        self.thresholds: list[float] = []  # one per scope; none with fixed thresholds
        self.scopes = 0
        self.budgets: set[float] = set()
        self.behind = [0, 0]  # right and wrong verdicts behind the budgets' thresholds in force, pooled

    def add(self, state: ScopeState, start: float | None, budgeted: tuple[float, budget.Choice] | None) -> None:
        self.good += state.good
        self.bad += state.bad
        self.scopes += 1
        if budgeted is not None:
            share, choice = budgeted
            self.budgets.add(share)
            self.thresholds.append(choice.threshold)
            self.behind[0] += choice.good
            self.behind[1] += choice.bad
        elif start is not None:
            self.thresholds.append(start if state.threshold is None else state.threshold)

    def summary(self) -> dict[str, Any]:
        summary = {"good": self.good, "bad": self.bad, "precision": self.good / (self.good + self.bad),
                   "scopes": self.scopes, "threshold": self._threshold()}
        if self.budgets:  # one per route; OTHER, which pools routes, names one only when they agree
            good, bad = self.behind
            summary.update(budget=next(iter(self.budgets)) if len(self.budgets) == 1 else None,
                           evidence=good + bad, **budget.rate(bad, good + bad))
        return summary

    def _threshold(self) -> float | None:
        if not self.thresholds:
            return None
        # A budget's threshold is one its scopes are at (exact only, -1, is no distance to average with).
        return (statistics.median_low if self.budgets else statistics.median)(self.thresholds)
