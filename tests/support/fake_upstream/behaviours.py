"""What a test can tell the fake upstream to do to the next request on a path, instead of answering it well."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Behaviour:
    kind: str  # "fail" | "delay" | "break_stream" | "malformed" | "encode" | "events" | "response_failed"
    path: str
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after_events: int = 2
    malformed: str = "json"
    encoding: str = ""
    corrupt: bool = False
    events: list[bytes] = field(default_factory=list)
