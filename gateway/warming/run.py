"""Send warming requests through a gateway a few at a time, within a budget of upstream calls and tokens. An
answer the gateway already holds comes back as a hit and costs nothing, so a run stopped half-way (or repeated)
spends only on what is still missing.

The calls budget is never passed: every request in flight holds a call until it comes back a hit. The tokens
budget holds every request in flight to the dearest answer seen so far (the first goes alone, its cost unknown):
one dearer than any before can pass it by the difference, and then nothing more is sent, as after an answer whose
cost cannot be read (no usage): it could have cost anything."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.metrics.prices import PriceTable
from gateway.warming.requests import WarmRequest
from gateway.wire.controls import WARMING

# Sends one request to the gateway: its status, its `x-cache` header and its body; raises OSError when it could
# not be sent or answered.
Post = Callable[[WarmRequest, list[tuple[str, str]]], Awaitable[tuple[int, str | None, bytes]]]


@dataclass(frozen=True)
class Budget:
    calls: int | None = None  # upstream calls the run may cause
    tokens: int | None = None  # prompt + completion tokens it may spend


@dataclass
class Spend:
    """What a run did: each request's `x-cache` state counted, and what the misses cost upstream."""

    states: dict[str, int] = field(default_factory=dict)  # hit (already cached), miss (warmed), bypass, failed, skipped
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # estimated US dollars

    def count(self, state: str) -> None:
        self.states[state] = self.states.get(state, 0) + 1


class Warmer:
    def __init__(self, post: Post, *, key: str | None, budget: Budget, concurrency: int,
                 prices: PriceTable, advanced: Callable[[str], None] = lambda state: None) -> None:
        self._post = post
        self._key = key
        self._budget = budget
        self._concurrency = concurrency
        self._prices = prices
        self._advanced = advanced
        self._turn = asyncio.Condition()
        self._in_flight = 0
        self._calls = 0  # upstream calls made or possibly under way
        self._dearest: int | None = None  # tokens of the dearest answer so far
        self._unknown = False  # an answer was paid for at a cost that could not be read: no tokens budget holds
        self.spend = Spend()

    def _fits(self) -> bool:
        budget, spent = self._budget, self.spend.prompt_tokens + self.spend.completion_tokens
        if budget.calls is not None and self._calls >= budget.calls:
            return False
        if budget.tokens is None:
            return True
        if self._unknown:
            return False
        if self._dearest is None:
            return self._in_flight == 0 and spent < budget.tokens
        return spent + (self._in_flight + 1) * self._dearest <= budget.tokens

    async def _admit(self) -> bool:
        """Wait for a turn; False when the budget has no room left for this request, nor will have."""
        async with self._turn:
            while True:
                fits = self._fits()
                if fits:  # a turn is free: there are only `concurrency` senders
                    self._in_flight += 1
                    self._calls += 1
                    return True
                if not fits and self._in_flight == 0:
                    return False
                await self._turn.wait()

    async def run(self, requests: Sequence[WarmRequest]) -> Spend:
        """Send them in order, `concurrency` senders each taking the next one: only that many wait for a turn,
        however long the file (a task per request would wake every waiting one at each answer)."""
        pending = iter(requests)

        async def sender() -> None:
            for request in pending:
                await self._one(request)

        await asyncio.gather(*(sender() for _ in range(min(self._concurrency, len(requests)))))
        return self.spend

    async def _one(self, request: WarmRequest) -> None:
        if not await self._admit():
            self._done("skipped")
            return
        state, tokens = await self._send(request)
        async with self._turn:
            self._in_flight -= 1
            if state == "hit":
                self._calls -= 1  # it bought nothing upstream
            elif tokens is not None:
                self._spent(request.model, *tokens)
            elif state != "failed":
                self._unknown = True
            self._turn.notify_all()
        self._done(state)

    def _spent(self, model: str, prompt: int, completion: int) -> None:
        spend = self.spend
        spend.prompt_tokens += prompt
        spend.completion_tokens += completion
        spend.cost += self._prices.cost(model, prompt, completion)
        self._dearest = max(self._dearest or 0, prompt + completion)

    def _done(self, state: str) -> None:
        self.spend.count(state)
        self._advanced(state)

    async def _send(self, request: WarmRequest) -> tuple[str, tuple[int, int] | None]:
        """The answer's `x-cache` state (`failed` for an error) and its tokens."""
        # Marked, so the gateway counts the answers it stores as warming's, and their later hits as its yield.
        headers = [("x-cache-origin", WARMING), *([("authorization", f"Bearer {self._key}")] if self._key else [])]
        try:
            status, state, body = await self._post(request, headers)
        except OSError:
            return "failed", None
        if status != 200:
            return "failed", None
        state = state or "miss"
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return state, None
        return state, _tokens(answer.get("usage") if isinstance(answer, dict) else None)


def _tokens(usage: Any) -> tuple[int, int] | None:
    """(prompt, completion) tokens, in chat's spelling or the Responses API's."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    if not isinstance(prompt, int) or not isinstance(completion, int) or prompt < 0 or completion < 0:
        return None
    return prompt, completion


def summary(spend: Spend) -> str:
    """A run's outcome and spend, in two lines."""
    states = spend.states
    return "\n".join([
        f"warmed {states.get('miss', 0)}, already cached {states.get('hit', 0)}, not cacheable "
        f"{states.get('bypass', 0)}, failed {states.get('failed', 0)}, left for the budget {states.get('skipped', 0)}",
        f"upstream spend: {spend.prompt_tokens} prompt + {spend.completion_tokens} completion tokens, "
        f"about ${spend.cost:.4f}",
    ])
