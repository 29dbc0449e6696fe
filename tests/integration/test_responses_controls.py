"""The Responses API and Anthropic Messages honour the control headers chat does (`x-cache-threshold`,
`x-cache-ttl`, `Cache-Control: no-cache` / `no-store`) and the hit verifier: a look-alike within the distance
threshold (another number, a negation) is not served. Through the official SDKs against a served gateway, both
stores."""

from __future__ import annotations

import time

import openai
import pytest

from gateway.embedding.local import LocalEmbedder
from tests.support import anthropic_clients
from tests.support.anthropic_clients import message
from tests.support.clients import PARAPHRASE, PROMPT, client
from tests.support.fake_upstream import MESSAGES_PATH

RESPONSES = "/v1/responses"
NO_STORE = {"cache-control": "no-store"}
CATS, KITTENS = "Tell me a joke about cats", "Tell me a funny story about kittens"  # far apart: only a loose limit
# Near enough to the embedder to be within the default threshold; only the verifier tells them apart.
LOOK_ALIKES = [
    ("When is it noon in Tokyo if it is 9 am in London?", "When is it noon in Tokyo if it is 9 pm in London?"),
    ("What is the second largest city in Spain?", "What is the third largest city in Spain?"),
    ("Which foods are high in iron?", "Which foods are not high in iron?"),
]


def create(gateway, prompt: str = PROMPT, *, headers: dict | None = None, **params):
    """One non-streamed Responses call; returns (x-cache state, headers, response) after cache writes settled."""
    raw = client(gateway).responses.with_raw_response.create(
        model="gpt-4.1-mini", input=prompt, extra_headers=headers, **params)
    gateway.drain()
    return raw.headers.get("x-cache"), raw.headers, raw.parse()


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.mark.parametrize(("cached", "asked"), LOOK_ALIKES)
def test_look_alikes_are_within_the_threshold(cached: str, asked: str, embedder, gateway) -> None:
    """Else the misses below would prove nothing of the verifier."""
    near = float(embedder.embed_batch([cached])[0] @ embedder.embed_batch([asked])[0])
    assert 1 - near <= gateway.settings.cache_distance_threshold


# ---------------------------------------------------------------------------------------------- Responses API


@pytest.mark.parametrize("ask", [create, message], ids=["responses", "messages"])
def test_the_threshold_header_tightens_or_loosens_one_request(gateway, fake_upstream, ask) -> None:
    ask(gateway)
    assert ask(gateway, PARAPHRASE, headers={"x-cache-threshold": "0", **NO_STORE})[0] == "miss"
    state, headers, _ = ask(gateway, PARAPHRASE)  # the header was for that request only
    assert state == "hit" and headers["x-cache-layer"] == "semantic"
    ask(gateway, CATS)
    assert ask(gateway, KITTENS, headers=NO_STORE)[0] == "miss"  # nothing of its own
    state, headers, _ = ask(gateway, KITTENS, headers={"x-cache-threshold": "1.0"})
    assert state == "hit" and headers["x-cache-layer"] == "semantic"


def test_responses_ttl_header_makes_an_entry_expire(gateway, fake_upstream) -> None:
    create(gateway, headers={"x-cache-ttl": "1"})
    assert create(gateway)[0] == "hit"
    time.sleep(1.3)
    assert create(gateway, PARAPHRASE, headers={"cache-control": "no-store"})[0] == "miss"
    assert create(gateway)[0] == "miss"
    assert create(gateway)[0] == "hit"  # refilled with the default TTL
    assert fake_upstream.calls(RESPONSES) == 3


def test_responses_no_cache_skips_the_lookup_but_stores(gateway, fake_upstream) -> None:
    _, _, first = create(gateway)
    state, _, fresh = create(gateway, headers={"cache-control": "no-cache"})
    assert state == "miss" and fake_upstream.calls(RESPONSES) == 2 and fresh.output_text != first.output_text
    state, _, again = create(gateway)
    assert state == "hit" and again.output_text == fresh.output_text


def test_responses_no_store_never_stores(gateway, fake_upstream) -> None:
    assert create(gateway, headers={"cache-control": "no-store"})[0] == "miss"
    assert create(gateway)[0] == "miss"
    assert fake_upstream.calls(RESPONSES) == 2


@pytest.mark.parametrize("headers", [{"x-cache-ttl": "-5"}, {"x-cache-threshold": "abc"}])
def test_responses_bad_control_headers_are_400(gateway, fake_upstream, headers: dict) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        create(gateway, headers=headers)
    assert caught.value.body["param"] in headers
    assert fake_upstream.calls(RESPONSES) == 0


@pytest.mark.parametrize(("cached", "asked"), LOOK_ALIKES)
def test_responses_verifier_serves_no_look_alike(gateway, fake_upstream, cached: str, asked: str) -> None:
    assert create(gateway, cached)[0] == "miss"
    assert create(gateway, asked)[0] == "miss"
    assert create(gateway, asked)[0] == "hit"  # its own answer, stored
    assert fake_upstream.calls(RESPONSES) == 2


# ---------------------------------------------------------------------------------------------- Anthropic Messages


def test_messages_ttl_and_no_store(gateway, fake_upstream) -> None:
    assert message(gateway, headers={"cache-control": "no-store"})[0] == "miss"
    assert message(gateway, headers={"x-cache-ttl": "1"})[0] == "miss"
    assert message(gateway)[0] == "hit"
    time.sleep(1.3)
    assert message(gateway)[0] == "miss"
    assert fake_upstream.calls(MESSAGES_PATH) == 3


def test_messages_no_cache_skips_the_lookup_but_stores(gateway, fake_upstream) -> None:
    message(gateway)
    state, _, fresh = message(gateway, headers={"cache-control": "no-cache"})
    assert state == "miss" and fake_upstream.calls(MESSAGES_PATH) == 2
    state, _, again = message(gateway)
    assert state == "hit" and anthropic_clients.text_of(again) == anthropic_clients.text_of(fresh)


@pytest.mark.parametrize(("cached", "asked"), LOOK_ALIKES)
def test_messages_verifier_serves_no_look_alike(gateway, fake_upstream, cached: str, asked: str) -> None:
    assert message(gateway, cached)[0] == "miss"
    assert message(gateway, asked)[0] == "miss"
    assert message(gateway, asked)[0] == "hit"
    assert fake_upstream.calls(MESSAGES_PATH) == 2
