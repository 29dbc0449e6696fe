"""Do two answers say the same thing? Used by shadow checks, which compare a cached answer with a fresh one
from upstream to learn whether a route's semantic hits are right."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from gateway.embedding.base import Embedder

SAME_MEANING = 0.85  # cosine similarity of the two answers' embeddings above which they agree


def _message(completion: dict[str, Any]) -> dict[str, Any]:
    choices = completion.get("choices") or [{}]
    message: dict[str, Any] = choices[0].get("message") or {}
    return message


def _calls(message: dict[str, Any]) -> list[tuple[Any, Any]]:
    calls = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        try:
            arguments = json.loads(function.get("arguments") or "null")
        except ValueError:
            arguments = function.get("arguments")
        calls.append((function.get("name"), arguments))
    return calls


async def answers_agree(cached: dict[str, Any], fresh: dict[str, Any], embedder: Embedder) -> bool:
    """Tool calls must match exactly (names and parsed arguments); texts must mean the same."""
    old, new = _message(cached), _message(fresh)
    if _calls(old) or _calls(new):
        return _calls(old) == _calls(new)
    old_text, new_text = (old.get("content") or "").strip(), (new.get("content") or "").strip()
    if old_text == new_text:
        return True
    if not old_text or not new_text:
        return False
    first, second = await embedder.embed(old_text), await embedder.embed(new_text)
    return float(np.dot(first, second)) >= SAME_MEANING
