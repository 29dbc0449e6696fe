"""What a request would have cost upstream: list prices per model, in US dollars per million tokens, that
`METRICS_PRICES` extends or overrides. An estimate for the dashboard, not a bill."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.metrics.labels import MAX_LABEL_CHARS
from gateway.setting_values import Prices

# OpenAI's and Anthropic's public list prices (standard tier, Anthropic's without prompt caching). A dated snapshot
# name (gpt-4o-2024-08-06, claude-sonnet-4-5-20250929) is priced by its longest listed prefix.
DEFAULT_PRICES: Prices = (
    ("gpt-5", 1.25, 10.00),
    ("gpt-5-mini", 0.25, 2.00),
    ("gpt-5-nano", 0.05, 0.40),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4-turbo", 10.00, 30.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("o1", 15.00, 60.00),
    ("o3", 2.00, 8.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("text-embedding-3-small", 0.02, 0.0),
    ("text-embedding-3-large", 0.13, 0.0),
    ("text-embedding-ada-002", 0.10, 0.0),
    ("claude-opus-4-5", 5.00, 25.00),
    ("claude-opus-4", 15.00, 75.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-haiku-4-5", 1.00, 5.00),
    ("claude-3-5-haiku", 0.80, 4.00),
)

_MEMO_LIMIT = 1024  # model names come from clients: bound what is remembered about them


class PriceTable:
    def __init__(self, overrides: Iterable[tuple[str, float, float]] = ()) -> None:
        merged = {model: (prompt, completion) for model, prompt, completion in (*DEFAULT_PRICES, *overrides)}
        self._by_length = sorted(merged.items(), key=lambda item: -len(item[0]))
        self._memo: dict[str, tuple[float, float]] = {}

    def per_token(self, model: str) -> tuple[float, float]:
        """Dollars per input and per output token; (0, 0) for a model nobody priced."""
        price = self._memo.get(model)
        if price is None:
            name = model.rsplit("/", 1)[-1]  # a provider prefix (openai/gpt-4o) does not change the price
            price = next(((p / 1e6, c / 1e6) for known, (p, c) in self._by_length if name.startswith(known)),
                         (0.0, 0.0))
            if len(model) <= MAX_LABEL_CHARS:  # a client's megabyte of name is priced, never remembered
                if len(self._memo) >= _MEMO_LIMIT:
                    self._memo.clear()
                self._memo[model] = price
        return price

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        prompt, completion = self.per_token(model)
        return prompt * prompt_tokens + completion * completion_tokens
