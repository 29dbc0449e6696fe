"""Malformed legacy completions bodies against the fuzzed gateway: every field given the wrong type (or deleted),
random JSON, huge, empty, deeply nested or invalid UTF-8 bodies. Never a 500, and a rejected request changes no
entry."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from tests.support.fuzz_checks import JSON, send_and_check
from tests.support.fuzz_strategies import encode, fuzz, mutated, nested, raw_bodies

PATHS: list[tuple[Any, ...]] = [
    ("model",), ("prompt",), ("prompt", 0), ("prompt", 1), ("prompt", 0, 0), ("stream",), ("stream_options",),
    ("stream_options", "include_usage"), ("n",), ("best_of",), ("echo",), ("logprobs",), ("suffix",),
    ("max_tokens",), ("stop",), ("temperature",), ("top_p",), ("seed",), ("user",), ("logit_bias",),
    ("presence_penalty",), ("frequency_penalty",), ("a new field",),
]
TEMPLATE = b'{"model": "gpt-3.5-turbo-instruct", "prompt": "PLACE"}'


def base() -> dict[str, Any]:
    return {"model": "gpt-3.5-turbo-instruct", "prompt": "Say something harmless."}


def test_fuzz_text_completion_bodies(fuzzed) -> None:  # type: ignore[no-untyped-def]
    served, http = fuzzed

    @fuzz(600)
    @example(body=encode({**base(), "prompt": [nested(300, "x")]}))
    @example(body=encode({**base(), "prompt": [["a"], 1, None]}))
    @example(body=encode({**base(), "stream": True, "prompt": [1, 2], "logprobs": 2, "echo": True}))
    @given(body=st.one_of(mutated(base, PATHS), raw_bodies(TEMPLATE)))
    def completions(body: bytes) -> None:
        send_and_check(served, http, "POST", "/v1/completions", body, JSON, f"completions body {body[:200]!r}")

    completions()
