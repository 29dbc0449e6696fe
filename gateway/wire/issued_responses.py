"""The Responses API answers the gateway serves under ids of its own: a cached answer, or an identical request's,
is issued a fresh id the upstream never saw. What was served under it is kept for the caller's tenant alone
(`Served`), so that the id can be read back (`restored`), listed (`input_items`) and continued: a request naming
it as its `previous_response_id` goes upstream with that conversation written out (`Served.conversation`). Pure
functions and values."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.wire.canonical import digest

# Fields a response echoes from its request: a cached answer says what this request asked, not what the first did.
ECHOED_FIELDS = ("metadata", "store", "temperature", "top_p", "user", "service_tier", "prompt_cache_key",
                 "safety_identifier", "previous_response_id")

# An id the gateway issues: `resp_`, 16 random hex digits (each serve its own id), the digest of what was served
# (kept once under it, however often it is served) and the time it was served, in hex.
_ISSUED = re.compile(r"resp_[0-9a-f]{16}([0-9a-f]{32})([0-9a-f]{8})")
_PER_SERVE = ("id", "created_at", "completed_at")  # what differs each time one answer is served


def issuable(answer: dict[str, Any], *, asked: dict[str, Any], conversation: list[Any],
             previous: str | None) -> Served:
    """What serving `answer` to a request that `asked` keeps, the same however often it is served (`Served.issued`
    gives each serve its id): the answer with what this request asked echoed (not what the first asker did), and
    `conversation`, the input items it answered, following the upstream's `previous` response, if any."""
    echoed = {name: asked.get(name) for name in ECHOED_FIELDS}
    if echoed["store"] is None:
        echoed["store"] = True
    if echoed["metadata"] is None:
        echoed["metadata"] = {}
    # Reasoning the upstream keeps by id is its account's, and only if the first request stored it: a
    # client giving it back (`input += output`) would be refused. With its encrypted content it stands alone.
    output = [item for item in answer.get("output") or ()
              if item.get("type") != "reasoning" or item.get("encrypted_content")]
    # One dict, in the answer's order, without what differs each time it is served: what is kept.
    response = {name: value for name, value in answer.items() if name not in _PER_SERVE}
    response.update(echoed)
    response["output"] = output
    kept = orjson.dumps({"response": response, "input": conversation, "previous": previous})
    return Served(response, conversation, previous, kept, digest(kept))


def kept_as(tenant: str, name: str) -> str:
    """Where what the gateway served is kept: its caller's alone."""
    return f"responses:{tenant}:{name}"


@dataclass(frozen=True)
class Served:
    """An answer the gateway served under an id of its own (`response`), and the conversation it answered (input
    items written out, and the upstream `previous_response_id` they follow, if any)."""

    response: dict[str, Any]
    input: list[Any]
    previous: str | None
    kept: bytes = field(default=b"", repr=False, compare=False)  # what is kept (`issuable`)
    name: str = ""  # the digest of what is kept, which its ids carry

    def issued(self) -> Served:
        """Served once more, under an id of its own."""
        now = int(time.time())
        return self.served_as(f"resp_{os.urandom(8).hex()}{self.name}{now:08x}", now)

    def served_as(self, response_id: str, created_at: int) -> Served:
        response = {**self.response, "id": response_id, "created_at": created_at}
        if response.get("status") == "completed":
            response["completed_at"] = created_at
        return Served(response, self.input, self.previous, self.kept, self.name)

    def kept_under(self, tenant: str) -> list[tuple[str, bytes]]:
        """What to keep so that its id can be named later, by name: named by its content, whose digest the id
        carries, so however often one answer is served in one conversation, it is kept once."""
        assert self.name, "only what was issued is kept"
        return [(_served_name(tenant, self.name), self.kept)]

    def conversation(self) -> list[Any]:
        """The conversation up to and with this answer, as the input items that give it back to the model."""
        return [*self.input, *(item for item in map(_as_input, self.response.get("output") or ()) if item)]


def kept_names(tenant: str, response_id: str) -> list[str] | None:
    """Where what was served under `response_id` is kept, and where its deletion would be; None for an id the
    gateway did not issue."""
    issued = _ISSUED.fullmatch(response_id)
    if issued is None:
        return None
    return [_served_name(tenant, issued.group(1)), kept_as(tenant, "deleted:" + response_id)]


def _served_name(tenant: str, name: str) -> str:
    return kept_as(tenant, "served:" + name)


def restored(response_id: str, kept: bytes | None, deleted: bytes | None) -> Served | None:
    """What was served under `response_id` (an id `kept_names` read), from what was kept; None if nothing was, or
    it was deleted since."""
    issued = _ISSUED.fullmatch(response_id)
    if issued is None or kept is None or deleted is not None:
        return None
    try:
        value = orjson.loads(kept)
        content = Served(value["response"], value["input"], value["previous"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return content.served_as(response_id, int(issued.group(2), 16))


_ID_OPTIONAL = frozenset({"function_call", "custom_tool_call"})


def _as_input(item: Any) -> Any | None:
    """An output item as the input item that gives it back to the model: as returned (the API takes output items
    as input), a message as its text, without an `id` where the API does not need one (one the upstream never
    issued); None for reasoning without its encrypted content, which only the upstream that made it could read."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind == "message":
        text = "".join(part.get("text") or part.get("refusal") or "" for part in item.get("content") or ()
                       if isinstance(part, dict))
        return {"role": item.get("role", "assistant"), "content": text}
    if kind == "reasoning":
        return item if item.get("encrypted_content") else None
    return {name: value for name, value in item.items() if name != "id"} if kind in _ID_OPTIONAL else item


def _listed(index: int, item: Any) -> dict[str, Any]:
    """An input item as the API lists it: a message with its text as parts, every item with an id."""
    if not isinstance(item, dict):
        return {"id": f"item_{index}", "type": "unknown", "value": item}
    if "role" in item:
        content = item.get("content")
        kind = "output_text" if item["role"] == "assistant" else "input_text"
        parts = [{"type": kind, "text": content}] if isinstance(content, str) else content
        return {"id": f"msg_{index}", "type": "message", "status": "completed", **item, "content": parts}
    return {"id": f"item_{index}", **item}


def input_items(served: Served) -> dict[str, Any]:
    """`GET /v1/responses/{id}/input_items` of a response the gateway issued: its input items, newest first."""
    data = [_listed(index, item) for index, item in enumerate(reversed(served.input))]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": False}
