"""An upstream stream with an event over `MAX_EVENT_BYTES` (one 16 MB line cost 11 s of CPU to parse before the
parser was linear, and stalled every other request of its worker): it ends with an SSE error event, nothing is
stored, and the gateway goes on serving everyone else."""

from __future__ import annotations

import json
import threading

import httpx
import openai
import pytest

from gateway.wire.sse import MAX_EVENT_BYTES
from tests.support.clients import ask, stream
from tests.support.fake_upstream import iter_sse_data
from tests.support.traffic import REPEATED

PROMPT = "Tell me everything, at length."
ERROR_KEYS = {"message", "type", "param", "code"}


def _chunk(delta: dict, finish: str | None = None) -> bytes:
    chunk = {"id": "chatcmpl-huge", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


ANSWER = [_chunk({"role": "assistant", "content": ""}), _chunk({"content": "x" * MAX_EVENT_BYTES}),
          _chunk({}, "stop"), b"data: [DONE]\n\n"]


def test_an_over_long_event_ends_the_stream_with_an_error_and_stores_nothing(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    fake_upstream.chunk_delay = 0.3  # the stream lasts a while: other clients are served meanwhile
    fake_upstream.events_next(ANSWER)
    others: list[str | None] = []

    def meanwhile() -> None:
        for prompt in (*REPEATED[1:4], *REPEATED[1:4]):
            try:
                others.append(ask(gateway, prompt)[0])
            except openai.APIError as error:
                others.append(repr(error))

    helper = threading.Thread(target=meanwhile)
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", timeout=30, json={
            "model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}) as raw:
        assert raw.status_code == 200  # the stream had started: the error is its last event
        helper.start()  # only now: the queued answer is this stream's, not one of theirs
        body = raw.read()
    helper.join(30)
    events = list(iter_sse_data(body))
    assert events[0] == ANSWER[0].decode()[6:].strip() and "[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert set(error) == ERROR_KEYS and error["code"] == "upstream_protocol_error" and error["type"] == "server_error"
    assert len(body) < 4096  # nothing of the over-long event was relayed
    assert others == ["miss"] * 3 + ["hit"] * 3
    gateway.drain()
    assert ask(gateway, PROMPT)[0] == "miss"  # nothing of the failed stream was stored


def test_the_sdk_sees_an_over_long_event_as_an_api_error(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    fake_upstream.events_next(ANSWER)
    with pytest.raises(openai.APIError) as caught:
        stream(gateway, PROMPT)
    assert caught.value.body["code"] == "upstream_protocol_error"
    assert stream(gateway, PROMPT)[0] == "miss"
