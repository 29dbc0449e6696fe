"""The embeddings wire format input by input, on tables: which inputs a request has, the request for the ones
not cached, an answer taken apart into vectors (with the upstream's token count shared out exactly), and the
answer put back together."""

from __future__ import annotations

import orjson
import pytest

from gateway.wire.embeddings import Vector, inputs_of, merged, read_embeddings, vectors_of


@pytest.mark.parametrize(("value", "inputs"), [
    ("one text", ["one text"]),
    ([1, 2, 3], [[1, 2, 3]]),
    (["a", "b"], ["a", "b"]),
    ([[1], [2, 3]], [[1], [2, 3]]),
    ([], None),  # what the API refuses goes upstream as it came
    (["a", [1]], None),
    ([True, 2], None),
    ([[]], None),
    ([{"text": "a"}], None),
    (["a"] * 2048, ["a"] * 2048),
    (["a"] * 2049, None),  # over OpenAI's limit: refused upstream, never looked up input by input
])
def test_the_inputs_of_a_request(value, inputs) -> None:
    assert inputs_of(value) == inputs


def test_the_request_for_the_inputs_not_cached() -> None:
    batch = read_embeddings(b'{"model": "m", "input": ["a", "b", "c"], "dimensions": 8, "user": "u"}', {})
    assert orjson.loads(batch.upstream_body([1])) == {"model": "m", "input": ["b"], "dimensions": 8, "user": "u"}
    assert batch.upstream_body([0, 1, 2]) == b'{"model":"m","input":["a","b","c"],"dimensions":8,"user":"u"}'
    single = read_embeddings(b'{"model": "m", "input": "a"}', {"x-route": "rag"})
    assert (single.inputs, single.controls.route, orjson.loads(single.upstream_body([0]))["input"]) == (
        ["a"], "rag", "a")


def _answer(data: list, tokens: int = 10, model: str = "m-2") -> bytes:
    return orjson.dumps({"object": "list", "data": data, "model": model,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def test_an_answer_taken_apart_in_the_order_asked_with_tokens_that_add_up() -> None:
    data = [{"index": 1, "embedding": [0.5]}, {"index": 0, "embedding": [0.25]}, {"index": 2, "embedding": [1]}]
    vectors = vectors_of(_answer(data, tokens=10), ["a", "bbbbbb", "ccc"], base64=False)
    assert vectors is not None
    assert [vector.embedding for vector in vectors] == [[0.25], [0.5], [1]]
    assert sum(vector.tokens for vector in vectors) == 10 and [v.tokens for v in vectors] == [1, 6, 3]
    assert {vector.model for vector in vectors} == {"m-2"}


def _pair(first: object, second: object, *, index: object = 1) -> bytes:
    return _answer([{"index": 0, "embedding": first}, {"index": index, "embedding": second}])


@pytest.mark.parametrize(("payload", "base64"), [
    (b"not json", False), (b"[]", False), (_answer([{"index": 0, "embedding": [1.0]}]), False),  # one for two
    (_pair([1.0], [1.0], index=0), False),
    (_answer([{"index": 0, "embedding": [1.0]}, {"index": 1}]), False),
    (_answer([{"index": 0, "embedding": [1.0]}, "x"]), False),
    (_pair([1.0], [1.0], index=[1]), False), (_pair([1.0], [1.0], index=True), False),
    (_pair([1.0], None), False), (_pair([1.0], []), False), (_pair([1.0], [1.0, 2.0]), False),  # one length
    (_pair([1.0], ["1"]), False), (_pair([1.0], [True]), False), (_pair([1.0], "AAAA"), False),
    (_pair("AAAA", [1.0, 2.0]), True), (_pair("AAAA", ""), True), (_pair("AAAA", "AAAAAAAA"), True),
])
def test_anything_but_a_whole_well_formed_answer_is_no_answer(payload: bytes, base64: bool) -> None:
    assert vectors_of(payload, ["a", "b"], base64=base64) is None


def test_base64_vectors_are_strings_of_one_length() -> None:
    vectors = vectors_of(_pair("AAAA", "BBBB"), ["a", "b"], base64=True)
    assert vectors is not None and [vector.embedding for vector in vectors] == ["AAAA", "BBBB"]


def test_a_batch_whose_vectors_depend_on_each_other_is_not_read_input_by_input() -> None:
    assert read_embeddings(b'{"model": "m", "input": ["a", "b"], "late_chunking": true}', {}).inputs is None
    assert read_embeddings(b'{"model": "m", "input": ["a", "b"], "late_chunking": false}', {}).inputs == ["a", "b"]


@pytest.mark.parametrize("usage", [None, {"prompt_tokens": -3}, {"prompt_tokens": "7"}, {"prompt_tokens": True}])
def test_a_missing_or_odd_token_count_counts_nothing(usage) -> None:
    payload = orjson.dumps({"data": [{"index": 0, "embedding": [1.0]}], "usage": usage})
    assert vectors_of(payload, ["a"], base64=False) == [Vector([1.0], 0, "")]


def test_vectors_are_stored_and_read_back_and_put_together() -> None:
    vectors = [Vector([0.1, 0.2], 3, "m-1"), Vector("AAAA", 2, "m-2")]
    assert [Vector.loads(vector.dumps()) for vector in vectors] == vectors
    assert Vector.loads(b"{}") is None and Vector.loads(b"garbage") is None
    assert orjson.loads(merged(vectors)) == {
        "object": "list", "model": "m-2", "usage": {"prompt_tokens": 5, "total_tokens": 5},
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                 {"object": "embedding", "index": 1, "embedding": "AAAA"}]}
