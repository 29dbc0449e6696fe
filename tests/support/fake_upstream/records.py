"""What the fake upstream keeps of what happened: every request as it arrived, and every streamed answer with
when it started and how it ended (run to its end, or cut short by a client that hung up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str  # raw query string, exactly as received
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes
    json: Any | None  # parsed body when it is valid JSON, else None

    @property
    def params(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.query, keep_blank_values=True).items()}


@dataclass
class StreamRecord:
    prompt: str  # the last user message's text
    started: float  # time.monotonic() when the answer's headers were sent
    ended: float | None = None  # when the stream finished or the client was seen gone
    finished: bool = False  # every event (and chat's [DONE]) were sent
    gone_early: bool = False  # the client closed the connection before the end
