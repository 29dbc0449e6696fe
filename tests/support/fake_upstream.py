"""A fake OpenAI API: a real HTTP/1.1 server on 127.0.0.1 in a background thread.

It is deliberately independent of the gateway's code so that the gateway is tested against wire
behaviour (keep-alive, chunked SSE, abrupt disconnects), not against its own assumptions.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import itertools
import json
import re
import socket
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import brotli
import zstandard

__all__ = [
    "CHAT_PATH",
    "EMBEDDINGS_PATH",
    "MODELS",
    "FakeUpstream",
    "RecordedRequest",
    "encode_body",
    "fake_embedding",
    "iter_sse_data",
]

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
DEFAULT_EMBEDDING_DIM = 1536

# Process-wide so that two FakeUpstream instances never produce the same answer: a test can then tell
# a cached answer from a fresh one even across fixtures.
_answer_counter = itertools.count(1)
_answer_lock = threading.Lock()


def _next_answer_number() -> int:
    with _answer_lock:
        return next(_answer_counter)


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
class _Behaviour:
    kind: str  # "fail" | "delay" | "break_stream" | "malformed" | "encode" | "events"
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


class _ClientGone(Exception):
    """The peer closed the connection (or the server is stopping) while we were answering."""


# ---- answer builders (pure functions) -------------------------------------------------------------------


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return " ".join(parts)
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _split_words(text: str) -> list[str]:
    # Every piece keeps its leading whitespace so that "".join(pieces) == text exactly.
    pieces = re.findall(r"\s*\S+", text)
    rest = text[len("".join(pieces)) :]
    if not pieces:
        return [text] if text else []
    pieces[-1] += rest
    return pieces


def _split_in(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _openai_error(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _default_error(status: int) -> dict[str, Any]:
    kinds = {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        403: ("invalid_request_error", None),
        404: ("invalid_request_error", None),
        429: ("requests", "rate_limit_exceeded"),
    }
    type_, code = kinds.get(status, ("server_error", None))
    return _openai_error(f"Injected failure with status {status}.", type_, None, code)


def fake_embedding(text: str, dimensions: int = DEFAULT_EMBEDDING_DIM) -> list[float]:
    """A deterministic (float32) unit vector derived from a hash of `text`: same text, same vector."""
    raw = hashlib.shake_256(text.encode("utf-8")).digest(2 * dimensions)
    values = [v / 32768.0 for v in struct.unpack(f"<{dimensions}h", raw)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    # Rounded to float32 so the "float" and "base64" encodings carry exactly the same numbers.
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in values))))


@dataclass
class _ChatPlan:
    """Everything needed to answer one chat request, streamed or not."""

    number: int
    model: str
    created: int
    prompt_tokens: int
    choices: list[dict[str, Any]]  # {"content": str|None, "tool_call": dict|None, "finish_reason": str}

    @property
    def id(self) -> str:
        return f"chatcmpl-fake-{self.number}"

    def completion_tokens(self) -> int:
        total = 0
        for choice in self.choices:
            if choice["tool_call"] is not None:
                total += _words(choice["tool_call"]["function"]["arguments"])
            else:
                total += _words(choice["content"] or "")
        return total

    def usage(self) -> dict[str, int]:
        completion = self.completion_tokens()
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }

    def completion(self) -> dict[str, Any]:
        choices = []
        for index, choice in enumerate(self.choices):
            message: dict[str, Any] = {"role": "assistant", "content": choice["content"], "refusal": None}
            if choice["tool_call"] is not None:
                message["tool_calls"] = [choice["tool_call"]]
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": choice["finish_reason"],
                }
            )
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": self.usage(),
            "system_fingerprint": "fp_fake",
        }

    def chunks(self, include_usage: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> None:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            out.append(self._chunk([choice], include_usage))

        for index, choice in enumerate(self.choices):
            call = choice["tool_call"]
            if call is None:
                chunk(index, {"role": "assistant", "content": "", "refusal": None})
                for word in _split_words(choice["content"] or ""):
                    chunk(index, {"content": word})
            else:
                head = {"index": 0, "id": call["id"], "type": "function"}
                head["function"] = {"name": call["function"]["name"], "arguments": ""}
                chunk(index, {"role": "assistant", "content": None, "tool_calls": [head], "refusal": None})
                for piece in _split_in(call["function"]["arguments"], 3):
                    chunk(index, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            chunk(index, {}, choice["finish_reason"])
        if include_usage:
            final = self._chunk([], include_usage)
            final["usage"] = self.usage()
            out.append(final)
        return out

    def _chunk(self, choices: list[dict[str, Any]], include_usage: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        if include_usage:
            body["usage"] = None
        return body


def _plan_chat(request: dict[str, Any]) -> _ChatPlan:
    messages = request["messages"]
    last_user = ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            last_user = _message_text(message)
            break
    prompt_tokens = sum(_words(_message_text(m)) for m in messages)
    number = _next_answer_number()
    tool_name = _tool_name(request)
    choices = []
    for i in range(max(1, int(request.get("n") or 1))):
        suffix = "" if i == 0 else f".{i}"
        if tool_name is not None:
            call = {
                "id": f"call_{number}{'' if i == 0 else f'_{i}'}",
                "type": "function",
                "function": {"name": tool_name, "arguments": json.dumps({"q": last_user})},
            }
            choices.append({"content": None, "tool_call": call, "finish_reason": "tool_calls"})
        else:
            content = f"answer {number}{suffix} to: {last_user}"
            choices.append({"content": content, "tool_call": None, "finish_reason": "stop"})
    return _ChatPlan(number, str(request["model"]), int(time.time()), prompt_tokens, choices)


def _tool_name(request: dict[str, Any]) -> str | None:
    tools = request.get("tools")
    if not isinstance(tools, list) or not tools or request.get("tool_choice") == "none":
        return None
    choice = request.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"].get("name"))
    first = tools[0] if isinstance(tools[0], dict) else {}
    function = first.get("function") if isinstance(first.get("function"), dict) else {}
    return str(function.get("name", "tool"))


def _validate_chat(request: Any) -> dict[str, Any] | None:
    if not isinstance(request, dict):
        return _openai_error("We could not parse the JSON body of your request.", "invalid_request_error")
    if not isinstance(request.get("model"), str) or not request["model"]:
        return _openai_error(
            "Missing required parameter: 'model'.",
            "invalid_request_error",
            "model",
            "missing_required_parameter",
        )
    if not isinstance(request.get("messages"), list) or not request["messages"]:
        return _openai_error(
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            "messages",
            "missing_required_parameter",
        )
    return None


def _embeddings(request: Any) -> tuple[int, dict[str, Any]]:
    if not isinstance(request, dict) or "input" not in request or not isinstance(request.get("model"), str):
        missing = "model" if isinstance(request, dict) and "input" in request else "input"
        return 400, _openai_error(
            f"Missing required parameter: '{missing}'.",
            "invalid_request_error",
            missing,
            "missing_required_parameter",
        )
    raw = request["input"]
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
        inputs = [raw]
    elif isinstance(raw, list) and raw:
        inputs = list(raw)
    else:
        return 400, _openai_error("'input' must be a non-empty string or array.", "invalid_request_error", "input")
    texts = [t if isinstance(t, str) else " ".join(str(x) for x in t) for t in inputs]
    dims = int(request.get("dimensions") or DEFAULT_EMBEDDING_DIM)
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector = fake_embedding(text, dims)
        embedding: Any = vector
        if as_base64:
            embedding = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(_words(t) for t in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return 200, {"object": "list", "data": data, "model": request["model"], "usage": usage}


def encode_body(payload: bytes, encoding: str, *, corrupt: bool = False) -> bytes:
    """`payload` in `encoding`: gzip, deflate, br, zstd, or any other name for the bytes reversed (a stand-in
    for a coding nobody here decodes). A corrupt body keeps its first ten bytes (gzip's header), the rest
    overwritten: gzip and zstd then fail to decode (br and deflate may decode it to garbage)."""
    if encoding == "gzip":
        encoded = gzip.compress(payload)
    elif encoding == "deflate":
        encoded = zlib.compress(payload)
    elif encoding == "br":
        encoded = brotli.compress(payload)
    elif encoding == "zstd":
        encoded = zstandard.ZstdCompressor().compress(payload)
    else:
        encoded = payload[::-1]
    return encoded[:10] + b"\xff" * (len(encoded) - 10) if corrupt else encoded


def _models() -> dict[str, Any]:
    data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake"} for m in MODELS]
    return {"object": "list", "data": data}


# ---- HTTP plumbing --------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body are written separately: with Nagle's algorithm the body would wait for the client's
    # delayed ACK (~40 ms), adding that to every answer's latency.
    disable_nagle_algorithm = True
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    # An idle keep-alive connection is dropped after this long, so a forgotten client can't pin a thread.
    timeout = 30
    server: _Server
    _encode_as: _Behaviour | None = None  # this request's `encode_next`

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    # -- request side --

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
        except _ClientGone:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug in the fake must surface as a 500, not as a silent hang-up
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send_json(500, _openai_error(f"fake upstream crashed: {exc!r}", "server_error"))

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.server.owner._stopping.wait(seconds):
            raise _ClientGone

    def _route(self, req: RecordedRequest, behaviour: _Behaviour | None) -> None:
        if behaviour is not None and behaviour.kind == "fail":
            body = behaviour.body if behaviour.body is not None else _default_error(behaviour.status)
            self._send_json(behaviour.status, body, behaviour.headers)
            return
        if behaviour is not None and behaviour.kind == "malformed":
            self._send_malformed(behaviour.malformed)
            return
        if behaviour is not None and behaviour.kind == "events":
            self._send_stream(behaviour.events, "text/event-stream")
            return
        if not req.path.startswith("/v1/") and req.path != "/v1":
            self._send_json(404, _openai_error(f"Unknown path {req.path}", "invalid_request_error"))
        elif req.path == CHAT_PATH and req.method == "POST":
            self._chat(req, behaviour)
        elif req.path == EMBEDDINGS_PATH and req.method == "POST":
            self._send_json(*_embeddings(req.json))
        elif req.path == "/v1/models" and req.method == "GET":
            self._send_json(200, _models())
        else:
            self._echo(req, behaviour)

    def _chat(self, req: RecordedRequest, behaviour: _Behaviour | None) -> None:
        if req.json is None and req.body:
            error = _openai_error("We could not parse the JSON body of your request.", "invalid_request_error")
        else:
            error = _validate_chat(req.json)
        if error is not None:
            self._send_json(400, error)
            return
        assert isinstance(req.json, dict)
        plan = _plan_chat(req.json)
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
        events = [f"data: {json.dumps(c)}\n\n".encode() for c in plan.chunks(include_usage)]
        events.append(b"data: [DONE]\n\n")
        if breaking:
            assert behaviour is not None
            self._send_stream(events[: behaviour.after_events], "text/event-stream", abort=True)
        else:
            self._send_stream(events, "text/event-stream", headers=extra)

    def _echo(self, req: RecordedRequest, behaviour: _Behaviour | None) -> None:
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

    # -- response side --

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(body).encode(), "application/json", headers)

    def _encoded(self, payload: bytes, headers: dict[str, str] | None) -> tuple[bytes, dict[str, str]]:
        """The body and headers as an `encode_next` behaviour asked, else as they are."""
        if self._encode_as is None:
            return payload, headers or {}
        encoding, corrupt = self._encode_as.encoding, self._encode_as.corrupt
        return encode_body(payload, encoding, corrupt=corrupt), {**(headers or {}), "Content-Encoding": encoding}

    def _send_bytes(
        self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        payload, headers = self._encoded(payload, headers)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_truncated(self, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2])
        self._abort()

    def _send_malformed(self, kind: str) -> None:
        if kind == "sse":
            events = [
                b'data: {"id": "chatcmpl-broken", "object": "chat.completion.chunk", "choices": [{"index": 0,'
                b' "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}\n\n',
                b"data: this is {not json\n\n",
                b"data: [DONE]\n\n",
            ]
            self._send_stream(events, "text/event-stream")
        else:
            self._send_bytes(200, b'{"id": "chatcmpl-broken", "choices": [{"mess', "application/json")

    def _send_stream(
        self,
        pieces: list[bytes],
        content_type: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        abort: bool = False,
        chunk_delay: float | None = None,
    ) -> None:
        delay = self.server.owner.chunk_delay if chunk_delay is None else chunk_delay
        if self._encode_as is not None:
            encoded, headers = self._encoded(b"".join(pieces), headers)
            pieces = [encoded]  # compressed as one body, sent as one chunk
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        for i, piece in enumerate(pieces):
            if i:
                self._wait(delay)
            # One HTTP chunk per event, written straight to the socket (wfile is unbuffered).
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        if abort:
            self._abort()
            return
        self._wait(self.server.owner.stream_linger)
        self.wfile.write(b"0\r\n\r\n")

    def _abort(self) -> None:
        # No chunked terminator and no Content-Length worth of bytes: the client sees a truncated body.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _ClientGone


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: FakeUpstream) -> None:
        self.owner = owner
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Unlike ThreadingMixIn we keep every connection so stop() can cut idle keep-alive ones and join.
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="fake-upstream-conn",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            if not self.owner._stopping.is_set():
                self.handle_error(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-answer is routine in these tests

    def close_connections(self, timeout: float) -> list[threading.Thread]:
        with self._connections_lock:
            items = list(self._connections.items())
        for sock, _ in items:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in items:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for _, t in items if t.is_alive()]


class FakeUpstream:
    """A fake OpenAI endpoint. Behaviours queued with *_next() apply to the next request on their path,
    one request consuming at most one behaviour, in FIFO order."""

    def __init__(self, *, latency: float = 0.0, chunk_delay: float = 0.0,
                 latency_paths: frozenset[str] | None = None) -> None:
        self.latency = latency  # seconds before every response's headers
        # Only these paths wait `latency` (None: all). The benchmark gives peers their embeddings for free.
        self.latency_paths = latency_paths
        self.chunk_delay = chunk_delay  # seconds between streamed chunks
        self.chat_headers: dict[str, str] = {}  # sent with every chat answer, as OpenAI sends its per-account ones
        # When set, each connection is closed this many seconds after an answer, as an upstream whose keep-alive
        # idle timeout is that short (a request sent in between meets a closing connection).
        self.close_after_answer: float | None = None
        self.stream_linger = 0.0  # seconds between a stream's last event and its end (an upstream slow to close)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._behaviours: deque[_Behaviour] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-upstream",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in delays
        server.shutdown()
        server.server_close()
        leftovers = server.close_connections(timeout)
        if thread is not None:
            thread.join(timeout)
        self._server = None
        self._thread = None
        if leftovers:
            raise RuntimeError(f"FakeUpstream: {len(leftovers)} connection thread(s) did not stop")

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeUpstream is not running")
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    # ---- records ----------------------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def calls(self, path: str = CHAT_PATH) -> int:
        with self._lock:
            return sum(1 for r in self._requests if r.path == path)

    def last(self, path: str = CHAT_PATH) -> RecordedRequest | None:
        with self._lock:
            return next((r for r in reversed(self._requests) if r.path == path), None)

    def reset(self) -> None:
        """Forget recorded requests and queued behaviours (answer numbers keep increasing)."""
        with self._lock:
            self._requests.clear()
            self._behaviours.clear()

    # ---- behaviour injection ----------------------------------------------------------------------------

    def _queue(self, behaviour: _Behaviour) -> None:
        with self._lock:
            self._behaviours.append(behaviour)

    def _take_behaviour(self, path: str) -> _Behaviour | None:
        with self._lock:
            for behaviour in self._behaviours:
                if behaviour.path == path:
                    self._behaviours.remove(behaviour)
                    return behaviour
        return None

    def pending(self) -> int:
        """How many queued behaviours have not been consumed yet."""
        with self._lock:
            return len(self._behaviours)

    def fail_next(
        self,
        status: int,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        path: str = CHAT_PATH,
    ) -> None:
        """Answer the next request on `path` with `status` and an OpenAI-shaped error (or `body`)."""
        self._queue(_Behaviour("fail", path, status=status, body=body, headers=dict(headers or {})))

    def delay_next(self, seconds: float, path: str = CHAT_PATH) -> None:
        """Wait `seconds` (plus `latency`) before the headers of the next answer on `path`."""
        self._queue(_Behaviour("delay", path, seconds=seconds))

    def break_stream_next(self, after_events: int = 2, path: str = CHAT_PATH) -> None:
        """Send `after_events` SSE events of the next answer on `path`, then drop the TCP connection
        without the chunked terminator. A non-streamed answer is cut halfway through its body instead."""
        self._queue(_Behaviour("break_stream", path, after_events=after_events))

    def malformed_next(self, kind: str = "json", path: str = CHAT_PATH) -> None:
        """ "json": a 200 whose JSON body is cut short; "sse": a 200 stream with a non-JSON `data:` line."""
        if kind not in ("json", "sse"):
            raise ValueError(f"malformed kind must be 'json' or 'sse', not {kind!r}")
        self._queue(_Behaviour("malformed", path, malformed=kind))

    def encode_next(self, encoding: str, *, corrupt: bool = False, path: str = CHAT_PATH) -> None:
        """Send the next answer on `path`, streamed or not, in `encoding` (see `encode_body`) with its
        `Content-Encoding`; `corrupt`: a gzip or zstd body that does not decode."""
        self._queue(_Behaviour("encode", path, encoding=encoding, corrupt=corrupt))

    def events_next(self, events: list[bytes], path: str = CHAT_PATH) -> None:
        """Answer the next request on `path` with a 200 `text/event-stream` of these raw pieces, one HTTP
        chunk each."""
        self._queue(_Behaviour("events", path, events=list(events)))


def iter_sse_data(raw: bytes) -> Iterator[str]:
    """The `data:` payloads of a raw SSE body, for tests that read a stream by hand."""
    for block in raw.decode("utf-8").split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data:"):
                yield line[5:].strip()
