"""Embeddings cached input by input, through the official SDK against a served gateway on both stores: a batch
whose inputs were all seen makes no upstream call, one with some new inputs sends only those and gets every
vector back in the order asked, with the usage a direct call would report; what changes the vectors (model,
dimensions, encoding, tenant) keeps them apart; errors and oversized answers are never stored."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clients import client
from tests.support.fake_upstream import fake_embedding
from tests.support.fake_upstream.chat import words

MODEL = "text-embedding-3-small"
PATH = "/v1/embeddings"


def embed(gateway, inputs, *, key: str = "sk-client-one", **params):
    raw = client(gateway, key).embeddings.with_raw_response.create(model=MODEL, input=inputs, dimensions=8,
                                                                    encoding_format="float", **params)
    gateway.drain()
    return raw.headers["x-cache"], raw.parse()


def sent_inputs(fake_upstream) -> list:
    return fake_upstream.last(PATH).json["input"]


def test_a_batch_sends_upstream_only_the_inputs_not_seen(make_gateway, fake_upstream, store_kind) -> None:
    gateway = make_gateway(store_kind)
    assert embed(gateway, ["alpha one", "beta two words"])[0] == "miss"
    state, answer = embed(gateway, ["beta two words", "alpha one"])
    assert state == "hit" and fake_upstream.calls(PATH) == 1
    assert [item.embedding for item in answer.data] == [fake_embedding("beta two words", 8),
                                                        fake_embedding("alpha one", 8)]
    texts = ["alpha one", "gamma is new here", "beta two words", "delta also new"]
    state, answer = embed(gateway, texts)
    assert state == "partial" and sent_inputs(fake_upstream) == ["gamma is new here", "delta also new"]
    assert [item.index for item in answer.data] == [0, 1, 2, 3]
    assert [item.embedding for item in answer.data] == [fake_embedding(text, 8) for text in texts]
    # the usage a direct call for the whole batch reports: the upstream's counts, shared out, add up
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == sum(words(text) for text in texts)
    assert answer.model == MODEL and fake_upstream.calls(PATH) == 2
    assert embed(gateway, texts)[0] == "hit" and fake_upstream.calls(PATH) == 2


def test_a_single_input_and_token_arrays_are_inputs_like_any_other(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    embed(gateway, "on its own")
    state, _ = embed(gateway, ["on its own", "with a friend"])
    assert state == "partial" and sent_inputs(fake_upstream) == ["with a friend"]
    embed(gateway, [[1, 2, 3], [4, 5]])
    assert embed(gateway, [4, 5])[0] == "hit"
    assert embed(gateway, [[4, 5], [6]])[0] == "partial" and sent_inputs(fake_upstream) == [[6]]


@pytest.mark.parametrize("change", [{"dimensions": 16}, {"encoding_format": "base64"}, {"model": "other-model"},
                                    {"key": "sk-someone-else"}])
def test_what_changes_the_vectors_keeps_them_apart(make_gateway, fake_upstream, change: dict) -> None:
    gateway = make_gateway("memory")
    embed(gateway, ["kept apart"])
    params = {"key": change.get("key", "sk-client-one"), "dimensions": change.get("dimensions", 8),
              "encoding_format": change.get("encoding_format", "float")}
    raw = client(gateway, params["key"]).embeddings.with_raw_response.create(
        model=change.get("model", MODEL), input=["kept apart"], dimensions=params["dimensions"],
        encoding_format=params["encoding_format"])
    assert raw.headers["x-cache"] == "miss" and fake_upstream.calls(PATH) == 2


def test_the_user_field_is_neutral(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    embed(gateway, ["same text"], user="one")
    assert embed(gateway, ["same text"], user="two")[0] == "hit"


def test_a_refusal_of_the_new_inputs_is_asked_again_for_the_whole_batch(make_gateway, fake_upstream) -> None:
    """An upstream 400 names positions in the list it was sent: the client is given one about its own list."""
    gateway = make_gateway("memory")
    embed(gateway, ["seen"])
    fake_upstream.fail_next(400, path=PATH)
    state, answer = embed(gateway, ["seen", "unseen"])
    assert state == "miss" and sent_inputs(fake_upstream) == ["seen", "unseen"] and fake_upstream.calls(PATH) == 3
    assert [item.embedding for item in answer.data] == [fake_embedding("seen", 8), fake_embedding("unseen", 8)]


def test_an_upstream_error_for_the_new_inputs_passes_through_and_nothing_is_stored(make_gateway,
                                                                                 fake_upstream) -> None:
    gateway = make_gateway("memory")
    embed(gateway, ["seen"])
    fake_upstream.fail_next(429, path=PATH)
    failed = httpx.post(f"{gateway.base_url}/embeddings", json={"model": MODEL, "input": ["seen", "unseen"],
                                                                "dimensions": 8})
    assert failed.status_code == 429 and "error" in failed.json()
    gateway.drain()
    assert embed(gateway, ["seen", "unseen"])[0] == "partial"


def test_an_answer_too_big_to_hold_is_relayed_whole_and_not_stored(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", MAX_MERGED_BYTES="4096")
    texts = [f"input number {n}" for n in range(20)]
    first = httpx.post(f"{gateway.base_url}/embeddings", json={"model": MODEL, "input": texts, "dimensions": 8})
    assert first.status_code == 200 and first.headers["x-cache"] == "bypass" and len(first.json()["data"]) == 20
    gateway.drain()
    assert embed(gateway, texts[:1])[0] == "miss"
    # with some inputs cached, a batch expected to be too big goes upstream whole instead of being put together
    second = httpx.post(f"{gateway.base_url}/embeddings", json={"model": MODEL, "input": texts, "dimensions": 8})
    assert second.headers["x-cache"] == "bypass" and sent_inputs(fake_upstream) == texts
    # and so with all of them cached: an answer too big to hold is never put together from the cache either
    for pair in range(0, 20, 2):
        embed(gateway, texts[pair:pair + 2])
    assert embed(gateway, texts[4:6])[0] == "hit"
    calls = fake_upstream.calls(PATH)
    third = httpx.post(f"{gateway.base_url}/embeddings", json={"model": MODEL, "input": texts, "dimensions": 8,
                                                               "encoding_format": "float"})
    assert third.headers["x-cache"] == "bypass" and fake_upstream.calls(PATH) == calls + 1


def test_a_vector_over_the_entry_limit_is_served_but_not_stored(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", MAX_ENTRY_BYTES="1024")
    big = client(gateway).embeddings.with_raw_response
    states = [big.create(model=MODEL, input=["a long vector"], encoding_format="float").headers["x-cache"]
              for _ in range(2)]  # 1,536 floats: far over 1 kB
    gateway.drain()
    assert states == ["miss", "miss"] and embed(gateway, ["a short one"])[0] == "miss"
    assert embed(gateway, ["a short one"])[0] == "hit"
