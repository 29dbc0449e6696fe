"""The fake upstream itself: started and stopped around a test, what it recorded, and the behaviours a test
queues for the next request on a path."""

from __future__ import annotations

import threading
import time
from collections import deque
from types import TracebackType
from typing import Any

from tests.support.fake_upstream.behaviours import Behaviour
from tests.support.fake_upstream.handler import Handler
from tests.support.fake_upstream.records import RecordedRequest, StreamRecord
from tests.support.fake_upstream.responses_api import ResponseStore
from tests.support.fake_upstream.server import Server
from tests.support.fake_upstream.shapes import CHAT_PATH, MODELS, RESPONSES_PATH


class FakeUpstream:
    """A fake OpenAI endpoint. Behaviours queued with *_next() apply to the next request on their path,
    one request consuming at most one behaviour, in FIFO order. Besides every request (`requests`), it keeps every
    streamed chat answer and how it ended (`streams`) and counts its open connections (`open_connections`): what
    a test of clients hanging up must see of the gateway's upstream side."""

    def __init__(self, *, latency: float = 0.0, chunk_delay: float = 0.0,
                 latency_paths: frozenset[str] | None = None, extra_words: int = 0) -> None:
        self.latency = latency  # seconds before every response's headers
        # Only these paths wait `latency` (None: all). The benchmark gives peers their embeddings for free.
        self.latency_paths = latency_paths
        self.chunk_delay = chunk_delay  # seconds between streamed chunks
        self.chat_headers: dict[str, str] = {}  # sent with every chat answer, as OpenAI sends its per-account ones
        # When set, each connection is closed this many seconds after an answer, as an upstream whose keep-alive
        # idle timeout is that short (a request sent in between meets a closing connection).
        self.close_after_answer: float | None = None
        self.stream_linger = 0.0  # seconds between a stream's last event and its end (an upstream slow to close)
        self.extra_words = extra_words  # words ("w0 w1 ...") after each text answer: a stream that much longer
        self.model_names = MODELS  # what GET /v1/models lists
        # What POST /v1/responses stored (not per process: another fake knows none of it, as another account).
        self.stored_responses = ResponseStore()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._streams: list[StreamRecord] = []
        self._behaviours: deque[Behaviour] = deque()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = Server(self, Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # how long stop() waits for the loop: once a test, a thousand tests
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

    @property
    def open_connections(self) -> int:
        """Connections open right now (each served by a thread of its own until it closes)."""
        return self._server.open_connections if self._server is not None else 0

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

    def _stream_started(self, prompt: str) -> StreamRecord:
        record = StreamRecord(prompt=prompt, started=time.monotonic())
        with self._lock:
            self._streams.append(record)
        return record

    @property
    def streams(self) -> list[StreamRecord]:
        """Every streamed chat or Responses API answer so far, oldest first: when it started, and whether it ran to
        its end or its client hung up first (seen at once while the stream waits `chunk_delay` between chunks)."""
        with self._lock:
            return list(self._streams)

    def reset(self) -> None:
        """Forget recorded requests, streams and queued behaviours (answer numbers keep increasing)."""
        with self._lock:
            self._requests.clear()
            self._streams.clear()
            self._behaviours.clear()

    # ---- behaviour injection ----------------------------------------------------------------------------

    def _queue(self, behaviour: Behaviour) -> None:
        with self._lock:
            self._behaviours.append(behaviour)

    def _take_behaviour(self, path: str) -> Behaviour | None:
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
        self._queue(Behaviour("fail", path, status=status, body=body, headers=dict(headers or {})))

    def delay_next(self, seconds: float, path: str = CHAT_PATH) -> None:
        """Wait `seconds` (plus `latency`) before the headers of the next answer on `path`."""
        self._queue(Behaviour("delay", path, seconds=seconds))

    def break_stream_next(self, after_events: int = 2, path: str = CHAT_PATH) -> None:
        """Send `after_events` SSE events of the next answer on `path`, then drop the TCP connection
        without the chunked terminator. A non-streamed answer is cut halfway through its body instead."""
        self._queue(Behaviour("break_stream", path, after_events=after_events))

    def fail_response_next(self, after_events: int = 4, path: str = RESPONSES_PATH) -> None:
        """The next Responses API answer on `path` fails as a model failure shows: a stream sends `after_events`
        events, then `response.failed` (status "failed", `error` set) and ends well; a whole answer is a 200 with
        that failed response object. Either way the failed response is what GET returns for it."""
        self._queue(Behaviour("response_failed", path, after_events=after_events))

    def malformed_next(self, kind: str = "json", path: str = CHAT_PATH) -> None:
        """ "json": a 200 whose JSON body is cut short; "sse": a 200 stream with a non-JSON `data:` line."""
        if kind not in ("json", "sse"):
            raise ValueError(f"malformed kind must be 'json' or 'sse', not {kind!r}")
        self._queue(Behaviour("malformed", path, malformed=kind))

    def encode_next(self, encoding: str, *, corrupt: bool = False, path: str = CHAT_PATH) -> None:
        """Send the next answer on `path`, streamed or not, in `encoding` (see `encode_body`) with its
        `Content-Encoding`; `corrupt`: a gzip or zstd body that does not decode."""
        self._queue(Behaviour("encode", path, encoding=encoding, corrupt=corrupt))

    def events_next(self, events: list[bytes], path: str = CHAT_PATH) -> None:
        """Answer the next request on `path` with a 200 `text/event-stream` of these raw pieces, one HTTP
        chunk each."""
        self._queue(Behaviour("events", path, events=list(events)))
