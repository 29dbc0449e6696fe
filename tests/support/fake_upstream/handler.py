"""How the fake upstream reads a request and picks its answer: recorded first, then the behaviour queued for its
path (if any), then chat, legacy completions, embeddings, Anthropic's messages and token counts, the model list,
the Responses API, or an echo of anything else under /v1."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tests.support.fake_upstream.behaviours import Behaviour
from tests.support.fake_upstream.chat import plan_chat, validate_chat
from tests.support.fake_upstream.completions import plan_completion, validate_completion
from tests.support.fake_upstream.embeddings import answer_embeddings
from tests.support.fake_upstream.messages import (
    COUNT_TOKENS_PATH,
    MESSAGES_PATH,
    default_anthropic_error,
    serve_messages,
)
from tests.support.fake_upstream.records import RecordedRequest
from tests.support.fake_upstream.responses import Responder
from tests.support.fake_upstream.responses_api import serve_responses, serves_responses
from tests.support.fake_upstream.server import ClientGone
from tests.support.fake_upstream.shapes import (
    CHAT_PATH,
    COMPLETIONS_PATH,
    EMBEDDINGS_PATH,
    default_error,
    models,
    openai_error,
)


class Handler(Responder):
    """One connection to the fake upstream (keep-alive: one request after the other)."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        upstream = self.server.owner
        split = urlsplit(self.path)
        body = self._read_body()
        parsed: Any | None = None
        if body:
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        recorded = RecordedRequest(self.command, split.path, split.query, headers, body, parsed)
        upstream._record(recorded)
        behaviour = upstream._take_behaviour(split.path)
        self._encode_as = behaviour if behaviour is not None and behaviour.kind == "encode" else None
        try:
            latency = upstream.latency if upstream.latency_paths is None or split.path in upstream.latency_paths else 0
            self._wait(latency + (behaviour.seconds if behaviour and behaviour.kind == "delay" else 0))
            self._route(recorded, behaviour)
            if upstream.close_after_answer is not None:
                # Unannounced (no `Connection: close`), as an idle timeout closes a keep-alive connection.
                self._wait(upstream.close_after_answer)
                self.close_connection = True
        except ClientGone:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug in the fake must surface as a 500, not as a silent hang-up
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send_json(500, openai_error(f"fake upstream crashed: {exc!r}", "server_error"))

    def _route(self, req: RecordedRequest, behaviour: Behaviour | None) -> None:
        if behaviour is not None and behaviour.kind == "fail":
            default = default_anthropic_error if req.path.startswith(MESSAGES_PATH) else default_error
            body = behaviour.body if behaviour.body is not None else default(behaviour.status)
            self._send_json(behaviour.status, body, behaviour.headers)
            return
        if behaviour is not None and behaviour.kind == "malformed":
            self._send_malformed(behaviour.malformed)
            return
        if behaviour is not None and behaviour.kind == "events":
            self._send_stream(behaviour.events, "text/event-stream")
            return
        if not req.path.startswith("/v1/") and req.path != "/v1":
            self._send_json(404, openai_error(f"Unknown path {req.path}", "invalid_request_error"))
        elif req.path == CHAT_PATH and req.method == "POST":
            self._planned(req, behaviour, validate_chat, plan_chat)
        elif req.path == COMPLETIONS_PATH and req.method == "POST":
            self._planned(req, behaviour, validate_completion, plan_completion)
        elif req.path in (MESSAGES_PATH, COUNT_TOKENS_PATH) and req.method == "POST":
            serve_messages(self, req, behaviour)
        elif req.path == EMBEDDINGS_PATH and req.method == "POST":
            self._send_json(*answer_embeddings(req.json))
        elif req.path == "/v1/models" and req.method == "GET":
            self._send_json(200, models(self.server.owner.model_names))
        elif serves_responses(req.path):
            serve_responses(self, req, behaviour)
        else:
            self._echo(req, behaviour)

    def _planned(self, req: RecordedRequest, behaviour: Behaviour | None, validate: Callable[[Any], Any],
                 plan_for: Callable[[dict[str, Any], int], Any]) -> None:
        """A chat or legacy completions answer, as `validate` and `plan_for` read the request."""
        if req.json is None and req.body:
            error = openai_error("We could not parse the JSON body of your request.", "invalid_request_error")
        else:
            error = validate(req.json)
        if error is not None:
            self._send_json(400, error)
            return
        assert isinstance(req.json, dict)
        plan = plan_for(req.json, self.server.owner.extra_words)
        breaking = behaviour is not None and behaviour.kind == "break_stream"
        extra = self.server.owner.chat_headers
        if not req.json.get("stream"):
            payload = json.dumps(plan.completion()).encode()
            if breaking:
                self._send_truncated(payload)
            else:
                self._send_bytes(200, payload, "application/json", extra)
            return
        options = req.json.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        events = plan.events(include_usage)
        if breaking:
            assert behaviour is not None
            self._send_stream(itertools.islice(events, behaviour.after_events), "text/event-stream", abort=True)
        else:
            record = self.server.owner._stream_started(plan.prompt)
            self._send_stream(events, "text/event-stream", headers=extra, record=record)

    def _echo(self, req: RecordedRequest, behaviour: Behaviour | None) -> None:
        params = req.params
        status = int(params.get("status", "200"))
        if params.get("stream") == "1":
            lines = [f"line {i}\n".encode() for i in range(1, 6)]
            abort = behaviour is not None and behaviour.kind == "break_stream"
            chunk_delay = max(self.server.owner.chunk_delay, 0.02)
            self._send_stream(lines, "text/plain; charset=utf-8", status, {"x-echo": "1"}, abort, chunk_delay)
            return
        if behaviour is not None and behaviour.kind == "break_stream":
            self._send_truncated(json.dumps({"path": req.path, "padding": "x" * 64}).encode())
            return
        body = {
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "headers": req.headers,
            "body": req.body.decode("utf-8", "replace"),
        }
        self._send_json(status, body, {"x-echo": "1"})
