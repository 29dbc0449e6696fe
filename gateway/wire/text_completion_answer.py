"""One stored legacy completion (a `text_completion` object) and the two ways back to a client: rebuilt from
stream chunks on a streamed miss, and replayed as JSON or as the `text_completion` chunks OpenAI streams on a
hit. Chunks come from the upstream, so anything in them of the wrong type is passed over, never trusted."""

from __future__ import annotations

import time
from typing import Any

from gateway.wire.answers import Reply
from gateway.wire.completion import new_id, pieces

OBJECT = "text_completion"
ID_PREFIX = "cmpl-"
_HEAD_FIELDS = ("id", "created", "model", "system_fingerprint")


def _index(choice: dict[str, Any]) -> int:
    index = choice.get("index", 0)
    return index if isinstance(index, int) and not isinstance(index, bool) else 0


class TextCompletionAssembler:
    """Rebuilds the whole completion from streamed chunks (`gateway.wire.chat.ChunkAssembler`): each choice's text
    and log probabilities in order; `result()` is None until every choice finished."""

    def __init__(self) -> None:
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: Any = None

    def feed(self, chunk: dict[str, Any]) -> None:
        self._head.update((field, chunk[field]) for field in _HEAD_FIELDS if chunk.get(field) is not None)
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict):
                self._feed_choice(choice)

    def _feed_choice(self, choice: dict[str, Any]) -> None:
        state = self._choices.setdefault(_index(choice), {"text": "", "logprobs": None, "finish_reason": None})
        if isinstance(choice.get("text"), str):
            state["text"] += choice["text"]
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict):
            merged = state["logprobs"] = state["logprobs"] or {}
            for field, values in logprobs.items():  # tokens, token_logprobs, top_logprobs, text_offset
                if isinstance(values, list):
                    merged.setdefault(field, []).extend(values)
        if choice.get("finish_reason"):
            state["finish_reason"] = choice["finish_reason"]

    def result(self) -> dict[str, Any] | None:
        if not self._choices or any(state["finish_reason"] is None for state in self._choices.values()):
            return None
        answer = {"id": self._head.get("id") or new_id(ID_PREFIX), "object": OBJECT,
                  "created": self._head.get("created") or int(time.time()), "model": self._head.get("model"),
                  "choices": [{"text": state["text"], "index": index, "logprobs": state["logprobs"],
                               "finish_reason": state["finish_reason"]}
                              for index, state in sorted(self._choices.items())],
                  "usage": self._usage}
        if "system_fingerprint" in self._head:
            answer["system_fingerprint"] = self._head["system_fingerprint"]
        return answer


def is_complete(answer: Any) -> bool:
    """A stored answer must be a finished `text_completion`, never an error or a cut-off stream."""
    if not isinstance(answer, dict) or answer.get("object") != OBJECT or not isinstance(answer.get("choices"), list):
        return False
    return bool(answer["choices"]) and all(
        isinstance(choice, dict) and isinstance(choice.get("text"), str) and choice.get("finish_reason")
        for choice in answer["choices"]
    )


class TextCompletionAnswers:
    """A `text_completion` as the cache reads it (`gateway.wire.answers.AnswerShape`): its first choice's text
    says it."""

    kind = "completions"
    complete = staticmethod(is_complete)

    @staticmethod
    def reply(answer: dict[str, Any]) -> Reply:
        choices = answer.get("choices")
        first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        text = first.get("text")
        return Reply(text.strip() if isinstance(text, str) else "")

    @staticmethod
    def private(answer: dict[str, Any]) -> bool:
        return False  # text alone: nothing only its tenant's account can read


TEXT_COMPLETION_ANSWERS = TextCompletionAnswers()


def as_response(answer: dict[str, Any]) -> dict[str, Any]:
    """A hit as a fresh JSON response: new id and time, the stored answer, usage and fingerprint."""
    return {**answer, "id": new_id(ID_PREFIX), "created": int(time.time())}


def as_chunks(answer: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """A stored answer as the `text_completion` chunks OpenAI would have streamed for it: each choice's text a
    few words at a time, then its finish reason (with its log probabilities, whole), then the usage if asked."""
    head = {"id": new_id(ID_PREFIX), "object": OBJECT, "created": int(time.time()), "model": answer.get("model")}
    if "system_fingerprint" in answer:
        head["system_fingerprint"] = answer["system_fingerprint"]
    extra = {"usage": None} if include_usage else {}

    def chunk(index: int, text: str, logprobs: Any = None, finish_reason: Any = None) -> dict[str, Any]:
        return {**head, "choices": [{"text": text, "index": index, "logprobs": logprobs,
                                     "finish_reason": finish_reason}], **extra}

    chunks = []
    for choice in answer.get("choices") or ():
        index = choice.get("index", 0)
        chunks += [chunk(index, piece) for piece in pieces(choice.get("text") or "")]
        chunks.append(chunk(index, "", choice.get("logprobs"), choice.get("finish_reason")))
    if include_usage:
        chunks.append({**head, "choices": [], "usage": answer.get("usage")})
    return chunks
