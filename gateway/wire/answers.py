"""What the cache must know of an answer in one API's own shape (a chat completion, a Response, an Anthropic
message): whether it is whole, what it says (for comparing two answers), and whether only its tenant may be served
it. Each wire format supplies one `AnswerShape`; the cache stores and serves answers in their API's shape."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Reply:
    """What an answer says: its text, and the tools it calls (names with parsed arguments), in order."""

    text: str
    calls: tuple[tuple[Any, Any], ...] = ()


def tool_call(name: Any, arguments: Any) -> tuple[Any, Any]:
    """A tool call as compared: arguments sent as JSON text are parsed, so spacing and key order do not count."""
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments or "null")
    return name, arguments


class AnswerShape(Protocol):
    kind: str  # the API: answers of two APIs are never served for each other

    def complete(self, answer: Any) -> bool:
        """A stored answer must be finished, never an error or a cut-off stream."""
        ...

    def reply(self, answer: dict[str, Any]) -> Reply: ...

    def private(self, answer: dict[str, Any]) -> bool:
        """Whether it holds what only the tenant it was made for may be served (encrypted reasoning)."""
        ...
