"""A Responses API answer (a `response` object) as the cache keeps it, read from a streamed miss, and written
back as the server-sent events the API streams: `response.created` ... `response.completed`, each with the next
`sequence_number`, text and function-call arguments in small deltas."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.errors import UpstreamProtocolError
from gateway.wire import sse
from gateway.wire.answers import Reply, tool_call

_WORDS = re.compile(r"\s*\S+\s*")
_WORDS_PER_DELTA = 4
# The events that end a stream: only a completed response is an answer to keep.
_ENDS = frozenset({"response.completed", "response.failed", "response.incomplete", "error"})


class ResponseAnswers:
    """A `response` object as the cache reads it (`gateway.wire.answers.AnswerShape`)."""

    kind = "responses"

    @staticmethod
    def complete(answer: Any) -> bool:
        """A completed response whose items have the shapes the gateway writes back (a replay, a chained input)."""
        return (isinstance(answer, dict) and answer.get("object") == "response"
                and answer.get("status") == "completed" and isinstance(answer.get("output"), list)
                and all(map(_well_formed, answer["output"])))

    @staticmethod
    def reply(answer: dict[str, Any]) -> Reply:
        texts, calls = [], []
        for item in answer.get("output") or ():
            if item.get("type") == "message":
                texts += [part.get("text") or "" for part in item.get("content") or () if isinstance(part, dict)]
            elif item.get("type") == "function_call":
                calls.append(tool_call(item.get("name"), item.get("arguments")))
        return Reply("".join(texts).strip(), tuple(calls))

    @staticmethod
    def private(answer: dict[str, Any]) -> bool:
        """Encrypted content (reasoning, compaction) is readable only by the account that made it."""
        return any(item.get("encrypted_content") for item in answer.get("output") or ())


RESPONSE_ANSWERS = ResponseAnswers()


_PART_TEXT = {"output_text": "text", "refusal": "refusal"}  # a message part's type -> its string field


def _well_formed(item: Any) -> bool:
    # Loops, not generators: every cache hit checks its answer's items (`complete`).
    if not isinstance(item, dict):
        return False
    kind = item.get("type")
    if kind == "message":
        content = item.get("content")
        if not isinstance(content, list):
            return False
        for part in content:
            if not isinstance(part, dict) or not isinstance(part_kind := part.get("type"), str):
                return False
            if part_kind in _PART_TEXT and not isinstance(part.get(_PART_TEXT[part_kind]), str):
                return False
        return True
    if kind == "function_call":
        return (isinstance(item.get("name"), str) and isinstance(item.get("arguments"), str)
                and isinstance(item.get("call_id"), str))
    return isinstance(kind, str)


class ResponseStream:
    """How a streamed answer is read as it is relayed (`gateway.flight.capture.StreamAnswer`): every event goes to
    the client; `response.completed` carries the whole answer and ends it (a failed or incomplete one, or an
    error, ends it with nothing to keep)."""

    def __init__(self) -> None:
        self._answer: dict[str, Any] | None = None
        self._sequence = -1  # the last event's number: an error event the gateway ends a stream with follows it
        self.ended = False

    def take(self, event: sse.Event) -> bool:
        if not event.data:
            return True  # comments and keep-alives
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError("The upstream API sent an event that is not valid JSON.") from None
        kind = payload.get("type") if isinstance(payload, dict) else None
        if isinstance(payload, dict) and isinstance(payload.get("sequence_number"), int):
            self._sequence = payload["sequence_number"]
        if kind in _ENDS:
            self.ended = True
            if kind == "response.completed" and isinstance(payload.get("response"), dict):
                self._answer = payload["response"]
        return True

    def result(self) -> dict[str, Any] | None:
        return self._answer

    def error(self, message: str, *, status: int, code: str) -> bytes:
        """The error event the Responses API ends a broken stream with."""
        return _event({"type": "error", "code": code, "message": message, "param": None,
                       "sequence_number": self._sequence + 1})


def _event(payload: dict[str, Any]) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _pieces(text: str) -> list[str]:
    words = _WORDS.findall(text)
    pieces = ["".join(words[at:at + _WORDS_PER_DELTA]) for at in range(0, len(words), _WORDS_PER_DELTA)]
    rest = text[len("".join(pieces)):]
    if pieces:
        pieces[-1] += rest
    return pieces or ([text] if text else [])


def _part_events(item_id: str, output: int, index: int, part: dict[str, Any]) -> Iterator[dict[str, Any]]:
    where = {"item_id": item_id, "output_index": output, "content_index": index}
    if part.get("type") == "output_text":
        text = part.get("text") or ""
        yield {"type": "response.content_part.added", **where, "part": {**part, "text": ""}}
        for piece in _pieces(text):
            yield {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
        yield {"type": "response.output_text.done", **where, "text": text, "logprobs": part.get("logprobs") or []}
    elif part.get("type") == "refusal":
        refusal = part.get("refusal") or ""
        yield {"type": "response.content_part.added", **where, "part": {**part, "refusal": ""}}
        for piece in _pieces(refusal):
            yield {"type": "response.refusal.delta", **where, "delta": piece}
        yield {"type": "response.refusal.done", **where, "refusal": refusal}
    else:
        yield {"type": "response.content_part.added", **where, "part": part}
    yield {"type": "response.content_part.done", **where, "part": part}


def _item_events(output: int, item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind, item_id = item.get("type"), item.get("id") or ""
    if kind == "message":
        yield {"type": "response.output_item.added", "output_index": output,
               "item": {**item, "status": "in_progress", "content": []}}
        for index, part in enumerate(item.get("content") or ()):
            yield from _part_events(item_id, output, index, part if isinstance(part, dict) else {})
    elif kind == "function_call":
        arguments = item.get("arguments") or ""
        yield {"type": "response.output_item.added", "output_index": output,
               "item": {**item, "status": "in_progress", "arguments": ""}}
        for piece in _pieces(arguments):
            yield {"type": "response.function_call_arguments.delta", "item_id": item_id, "output_index": output,
                   "delta": piece}
        yield {"type": "response.function_call_arguments.done", "item_id": item_id, "output_index": output,
               "name": item.get("name"), "arguments": arguments}
    else:  # reasoning and the rest arrive whole
        yield {"type": "response.output_item.added", "output_index": output, "item": item}
    yield {"type": "response.output_item.done", "output_index": output, "item": item}


def replayed(response: dict[str, Any]) -> bytes:
    """A whole response as the events that stream it, numbered from 0."""
    started = {**response, "status": "in_progress", "output": [], "usage": None}

    def events() -> Iterator[dict[str, Any]]:
        yield {"type": "response.created", "response": started}
        yield {"type": "response.in_progress", "response": started}
        for output, item in enumerate(response.get("output") or ()):
            yield from _item_events(output, item)
        yield {"type": "response.completed", "response": response}

    return b"".join(_event({**payload, "sequence_number": number}) for number, payload in enumerate(events()))


def answer_in(body: bytes) -> dict[str, Any] | None:
    """The completed response an upstream's answer holds (the JSON object, or a stream's `response.completed`
    one); None for anything else."""
    try:
        if not body.lstrip().startswith(b"{"):
            reading = ResponseStream()
            for event in sse.SSEParser().feed(body):
                reading.take(event)
            value = reading.result()
        else:
            value = orjson.loads(body)
    except (orjson.JSONDecodeError, UpstreamProtocolError):
        return None
    return value if RESPONSE_ANSWERS.complete(value) else None
