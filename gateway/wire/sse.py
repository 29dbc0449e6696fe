"""Server-sent events as OpenAI and Anthropic send them: an incremental parser that keeps each event's raw bytes
(so a miss is relayed byte for byte) and the encoder used for replayed hits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import EventTooLong, UpstreamProtocolError

DONE = b"data: [DONE]\n\n"
# A blank line in any line-ending style ends an event; at most one of these can start at a given byte, so
# the leftmost match is the earliest end.
_SEPARATOR = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LONGEST_SEPARATOR = 4
# Chat chunks are a few hundred bytes, but a Responses API `response.completed` event carries the whole
# answer: 8 MiB is far above any real event and still bounds what one upstream can make a worker buffer.
MAX_EVENT_BYTES = 8 << 20


@dataclass(frozen=True)
class Event:
    data: str  # the joined `data:` lines; "" for an event that carried none
    raw: bytes  # the bytes of the whole event, blank line included


def encode(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def encode_named(name: str, payload: Any) -> bytes:
    """An event with its name (`event:`), as Anthropic sends every event, and its SDKs read only those."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def json_of(event: Event) -> Any:
    """An event's data read as JSON. Raises UpstreamProtocolError."""
    try:
        return orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("The upstream API sent an event that is not valid JSON.") from None


def _data_of(raw: bytes) -> str:
    # bytes.splitlines splits at exactly SSE's line ends: CRLF, LF and CR.
    values = [line[5:] for line in raw.splitlines() if line.startswith(b"data:")]
    return b"\n".join([value[1:] if value[:1] == b" " else value for value in values]).decode("utf-8", errors="replace")


class SSEParser:
    """Feed bytes as they arrive, in any split; get back the events completed so far. Each byte is searched
    for a separator about once (a search resumes where the last one gave up), so an event costs time in
    proportion to its size however finely it arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._searched = 0  # no separator starts before this offset of the buffer

    def feed(self, chunk: bytes) -> list[Event]:
        buffer = self._buffer
        buffer += chunk
        events = []
        start = 0
        found = _SEPARATOR.search(buffer, self._searched)
        while found is not None:
            end = found.end()
            if end - start > MAX_EVENT_BYTES:
                raise _too_long()
            raw = bytes(buffer[start:end])
            events.append(Event(_data_of(raw), raw))
            start = end
            found = _SEPARATOR.search(buffer, end)
        del buffer[:start]
        # A separator may straddle this chunk and the next: its first bytes are searched again.
        self._searched = max(0, len(buffer) - _LONGEST_SEPARATOR + 1)
        if len(buffer) > MAX_EVENT_BYTES:
            raise _too_long()
        return events


def _too_long() -> EventTooLong:
    return EventTooLong(f"The upstream API sent an event longer than {MAX_EVENT_BYTES} bytes.")
