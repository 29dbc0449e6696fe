"""Malformed bodies against the fuzzed gateway: every field of a chat or embeddings request given the wrong type,
random JSON, huge, empty, deeply nested or invalid UTF-8 bodies, and feedback of any shape. Never a 500, and a
rejected request changes no entry and caches no embedding."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from tests.support.fake_upstream import EMBEDDINGS_PATH
from tests.support.fuzz_checks import JSON, blobs_of, check_answer, send_and_check
from tests.support.fuzz_strategies import (
    CHAT_PATHS,
    CHAT_TEMPLATE,
    EMBEDDING_PATHS,
    EMBEDDINGS_TEMPLATE,
    any_value,
    chat_base,
    encode,
    fuzz,
    mutated,
    nested,
    raw_bodies,
)


def test_fuzz_chat_bodies(fuzzed) -> None:  # type: ignore[no-untyped-def]
    served, http = fuzzed

    # Explicit examples first: regressions found by earlier runs, so that they are tried on every run.
    @fuzz(1500)
    @example(body=b'{"model": "m", "messages": [{"role": [], "content": "x"}]}')
    @example(body=b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "modalities": 5}')
    @example(body=encode({**chat_base(), "tools": nested(300, None)}))
    @given(body=st.one_of(mutated(chat_base, CHAT_PATHS), raw_bodies(CHAT_TEMPLATE)))
    def chat(body: bytes) -> None:
        send_and_check(served, http, "POST", "/v1/chat/completions", body, JSON, f"chat body {body[:200]!r}")

    chat()


def test_fuzz_embedding_bodies(fuzzed) -> None:  # type: ignore[no-untyped-def]
    served, http = fuzzed

    def base() -> dict[str, Any]:
        return {"model": "text-embedding-3-small", "input": ["one", "two"]}

    @fuzz(600)
    @example(body=encode({"model": "text-embedding-3-small", "input": [nested(300, "x")]}))
    @given(body=st.one_of(mutated(base, EMBEDDING_PATHS), raw_bodies(EMBEDDINGS_TEMPLATE)))
    def embeddings(body: bytes) -> None:
        blobs = blobs_of(served)
        response = send_and_check(served, http, "POST", "/v1/embeddings", body, JSON, f"embeddings {body[:200]!r}")
        if response is None or response.status_code >= 400:
            served.drain()
            assert blobs_of(served) == blobs, f"a rejected embeddings request was cached: {body[:200]!r}"

    embeddings()


def test_fuzz_feedback_bodies(fuzzed) -> None:  # type: ignore[no-untyped-def]
    served, http = fuzzed

    @fuzz(200)
    @given(body=st.one_of(
        st.fixed_dictionaries({}, optional={"id": any_value, "rating": st.sampled_from(["good", "bad"]) | any_value,
                                            "distance": any_value}).map(encode),
        raw_bodies(b'{"id": "PLACE", "rating": "bad"}')))
    def feedback(body: bytes) -> None:
        response = send_and_check(served, http, "POST", "/v1/cache/feedback", body, JSON,
                                   f"feedback {body[:200]!r}")
        assert response is None or response.status_code != 503, "the store was unavailable to feedback"

    feedback()


def test_an_embeddings_request_the_upstream_rejects_is_passed_through_and_not_cached(  # type: ignore[no-untyped-def]
        fuzzed, fake_upstream) -> None:
    served, http = fuzzed
    blobs = blobs_of(served)
    fake_upstream.fail_next(400, path=EMBEDDINGS_PATH)
    response = http.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "rejected upstream"})
    check_answer(response.status_code, response.headers, response.content, "upstream 400")
    served.drain()
    assert response.status_code == 400 and blobs_of(served) == blobs
