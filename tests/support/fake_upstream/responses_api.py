"""The fake's OpenAI Responses API endpoints: `POST /v1/responses` (whole or streamed, a stored response continued
by `previous_response_id`), `GET` and `DELETE /v1/responses/{id}`, each response it stores kept per fake; and what
the behaviours queued for that path do to it (a body or stream cut short, a stream ending in `response.failed`)."""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.support.fake_upstream.behaviours import Behaviour
from tests.support.fake_upstream.records import RecordedRequest
from tests.support.fake_upstream.responses_input import conversation_error, input_items, validate_request
from tests.support.fake_upstream.responses_output import plan_response
from tests.support.fake_upstream.shapes import RESPONSES_PATH, openai_error

if TYPE_CHECKING:
    from tests.support.fake_upstream.handler import Handler


@dataclass(frozen=True)
class StoredResponse:
    body: dict[str, Any]  # the response object as GET returns it
    conversation: list[dict[str, Any]]  # every item up to its output: what a response continuing it follows


class ResponseStore:
    """The responses a fake created with `store` not false, as OpenAI keeps them (per fake, not per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._responses: dict[str, StoredResponse] = {}

    def put(self, response: StoredResponse) -> None:
        with self._lock:
            self._responses[response.body["id"]] = response

    def get(self, response_id: str) -> StoredResponse | None:
        with self._lock:
            return self._responses.get(response_id)

    def delete(self, response_id: str) -> bool:
        with self._lock:
            return self._responses.pop(response_id, None) is not None


def serves_responses(path: str) -> bool:
    return path == RESPONSES_PATH or path.startswith(RESPONSES_PATH + "/")


def serve_responses(handler: Handler, req: RecordedRequest, behaviour: Behaviour | None) -> None:
    """Answer a request on /v1/responses or below it."""
    rest = req.path[len(RESPONSES_PATH) + 1 :]
    if not rest and req.method == "POST":
        _create(handler, req, behaviour)
    elif rest and "/" not in rest and req.method in ("GET", "DELETE"):
        store = handler.server.owner.stored_responses
        stored = store.get(rest)
        if stored is not None and req.method == "GET":
            handler._send_json(200, stored.body)
        elif req.method == "DELETE" and store.delete(rest):
            handler._send_json(200, {"id": rest, "object": "response.deleted", "deleted": True})
        else:
            handler._send_json(404, openai_error(f"Response with id '{rest}' not found.", "invalid_request_error"))
    else:
        handler._send_json(404, openai_error(f"Invalid URL ({req.method} {req.path})", "invalid_request_error"))


def _create(handler: Handler, req: RecordedRequest, behaviour: Behaviour | None) -> None:
    owner = handler.server.owner
    request = req.json
    if request is None and req.body:
        error = openai_error("We could not parse the JSON body of your request.", "invalid_request_error")
    else:
        error = validate_request(request)
    if error is not None:
        handler._send_json(400, error)
        return
    assert isinstance(request, dict)
    history: list[dict[str, Any]] = []
    previous = request.get("previous_response_id")
    if previous is not None:
        stored = owner.stored_responses.get(previous)
        if stored is None:
            # OpenAI answers an unknown (never stored, deleted or expired) previous response with a 400.
            handler._send_json(400, openai_error(f"Previous response with id '{previous}' not found.",
                                                 "invalid_request_error", "previous_response_id",
                                                 "previous_response_not_found"))
            return
        history = stored.conversation
    items = [*history, *input_items(request["input"])]
    error = conversation_error(items)
    if error is not None:
        handler._send_json(400, error)
        return
    plan = plan_response(request, items, owner.extra_words)
    kind = behaviour.kind if behaviour is not None else ""
    after = behaviour.after_events if behaviour is not None else 0
    status = "failed" if kind == "response_failed" else None  # None: as planned
    if request.get("store", True) is not False:
        done = [] if status else [plan.item]
        owner.stored_responses.put(StoredResponse(plan.response(status), [*items, *done]))
    if not request.get("stream"):
        payload = json.dumps(plan.response(status)).encode()
        if kind == "break_stream":
            handler._send_truncated(payload)
        else:
            handler._send_bytes(200, payload, "application/json")
    elif kind == "break_stream":
        handler._send_stream(itertools.islice(plan.events(), after), "text/event-stream", abort=True)
    else:
        events = plan.events(fail_after=after if status else None)
        handler._send_stream(events, "text/event-stream", record=owner._stream_started(plan.prompt))
