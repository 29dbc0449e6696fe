"""Valid but strange requests: any unicode in a model, prompt or route, and query-language characters, are cached
like any other, and no one caller's odd request switches the cache off for everyone."""

from __future__ import annotations

import uuid

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.support.fuzz_checks import KNOWN_PROMPT
from tests.support.fuzz_strategies import fuzz

_weird_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=60)
_route_text = st.text(st.sampled_from("AZaz09._:/-"), min_size=1, max_size=64)


def test_strange_but_valid_requests_are_cached_like_any_other(fuzzed, fake_upstream) -> None:  # type: ignore[no-untyped-def]
    served, http = fuzzed

    @fuzz(80)
    @example(model="_", prompt="x", route="default", key="k")
    @example(model="gpt-4o-mini", prompt="x", route="_", key="k")
    @example(model="\b", prompt="x", route="default", key="k")
    @given(model=_weird_text.filter(lambda text: text.strip() != ""), prompt=_weird_text, route=_route_text,
           key=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1, max_size=30))
    def strange(model: str, prompt: str, route: str, key: str) -> None:
        prompt = f"{prompt} {uuid.uuid4().hex}"  # a fresh entry, also when an example is replayed
        body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
        # Threshold 0: two random prompts must not meet in the semantic layer, this is about exact storage.
        headers = {"x-route": route, "authorization": f"Bearer {key}", "x-cache-threshold": "0"}
        failures = served.gateway.policy.layers.store_guard.failures
        first = http.post("/v1/chat/completions", json=body, headers=headers)
        assert first.status_code == 200, first.text[:300]
        # The store is healthy: a strange model, route or prompt must not make it fail. It would be a silent
        # bypass for this request, and for everyone else too while the outage guard rests the store.
        assert served.gateway.policy.layers.store_guard.failures == failures, f"the store failed on {model=} {route=}"
        assert first.headers["x-cache"] == "miss", (first.headers["x-cache"], model, route)
        served.drain()
        second = http.post("/v1/chat/completions", json=body, headers=headers)
        assert second.headers["x-cache"] == "hit", (model, route, prompt)
        assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]

    strange()


@pytest.mark.parametrize(("case", "model", "prompt", "route"), [
    ("route '_'", "gpt-4o-mini", "Which route is this?", "_"),  # a valid route by the README's rule
    ("model '_'", "_", "Which model is this?", "default"),
    ("model with a control character", "\b", "Which model is this?", "default"),
    ("empty prompt", "gpt-4o-mini", "", "default"),
    ("blank prompt", "gpt-4o-mini", "   ", "default"),
])
def test_one_callers_odd_request_does_not_switch_the_cache_off_for_everyone(
        make_gateway, store_kind: str, case: str, model: str, prompt: str, route: str) -> None:
    # The outage guard rests a failing store or embedder for STORE_RETRY_SECS, for every caller: so a request
    # that makes it fail on purpose must not exist, or any one client can turn the cache off for all.
    gateway = make_gateway(store_kind, STORE_RETRY_SECS="30")
    known = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": KNOWN_PROMPT}]}
    paraphrase = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "At sea level, what is the "
                                                                                  "boiling point of water?"}]}
    with httpx.Client(base_url=gateway.base_url, timeout=10,
                      headers={"authorization": "Bearer sk-tenant-one"}) as tenant:
        assert tenant.post("/chat/completions", json=known).headers["x-cache"] == "miss"
        gateway.drain()
        odd = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={
            "model": model, "messages": [{"role": "user", "content": prompt}]},
            headers={"authorization": "Bearer sk-tenant-two", "x-route": route})
        assert odd.status_code in (200, 400), odd.text[:300]
        gateway.drain()
        states = [tenant.post("/chat/completions", json=body).headers["x-cache"] for body in (
            known, paraphrase, {**known, "messages": [{"role": "user", "content": f"Fresh {uuid.uuid4().hex}"}]})]
    guards = gateway.gateway.policy.layers
    assert states == ["hit", "hit", "miss"], (
        f"after another tenant's request with {case}: {states} (store failures {guards.store_guard.failures}, "
        f"embedder failures {guards.embedder_guard.failures})")
