"""Server-sent events as OpenAI sends them: an incremental parser that keeps each event's raw bytes
(so a miss is relayed byte for byte) and the encoder used for replayed hits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
_LINE_ENDS = (b"\r\n", b"\n", b"\r")


@dataclass(frozen=True)
class Event:
    data: str  # the joined `data:` lines; "" for an event that carried none
    raw: bytes  # the bytes of the whole event, blank line included


def encode(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _split_event(buffer: bytes) -> tuple[bytes, bytes] | None:
    """Split off the first complete event (ended by a blank line in any line-ending style)."""
    best: tuple[int, int] | None = None
    for separator in (b"\r\n\r\n", b"\n\n", b"\r\r"):
        at = buffer.find(separator)
        if at != -1 and (best is None or at < best[0]):
            best = (at, len(separator))
    if best is None:
        return None
    end = best[0] + best[1]
    return buffer[:end], buffer[end:]


def _data_of(raw: bytes) -> str:
    lines = []
    for line in raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(lines).decode("utf-8", errors="replace")


class SSEParser:
    """Feed bytes as they arrive, in any split; get back the events completed so far."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        events = []
        while (split := _split_event(self._buffer)) is not None:
            raw, self._buffer = split
            events.append(Event(data=_data_of(raw), raw=raw))
        return events
