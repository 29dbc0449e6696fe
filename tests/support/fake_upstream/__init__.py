"""A fake OpenAI API (and Anthropic's Messages API): a real HTTP/1.1 server on 127.0.0.1 in a background thread.

It is deliberately independent of the gateway's code so that the gateway is tested against wire
behaviour (keep-alive, chunked SSE, abrupt disconnects), not against its own assumptions.

One module per concern: `upstream` (the FakeUpstream a test holds: lifecycle, records, queued behaviours),
`server` (the HTTP server and its connections), `handler` (reading a request, picking its answer), `responses`
(writing it, misbehaviours included), `chat`, `completions` (legacy), `embeddings`, `messages` (Anthropic's),
`encodings`, `shapes` (paths, models, errors, SSE), `records` and `behaviours`; the Responses API in `responses_api`
(endpoints, stored responses), `responses_input` (validation, the conversation) and `responses_output` (the answer,
whole or as events). What tests import comes from here.
"""

from __future__ import annotations

from tests.support.fake_upstream.embeddings import fake_embedding
from tests.support.fake_upstream.encodings import encode_body
from tests.support.fake_upstream.messages import COUNT_TOKENS_PATH, MESSAGES_PATH, anthropic_error
from tests.support.fake_upstream.records import RecordedRequest, StreamRecord
from tests.support.fake_upstream.shapes import (
    CHAT_PATH,
    COMPLETIONS_PATH,
    EMBEDDINGS_PATH,
    MODELS,
    RESPONSES_PATH,
    iter_sse_data,
)
from tests.support.fake_upstream.upstream import FakeUpstream

__all__ = [
    "CHAT_PATH",
    "COMPLETIONS_PATH",
    "COUNT_TOKENS_PATH",
    "EMBEDDINGS_PATH",
    "MESSAGES_PATH",
    "MODELS",
    "RESPONSES_PATH",
    "FakeUpstream",
    "RecordedRequest",
    "StreamRecord",
    "anthropic_error",
    "encode_body",
    "fake_embedding",
    "iter_sse_data",
]
