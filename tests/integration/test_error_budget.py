"""A wrong-hit budget through the served gateway, fed a scripted stream of verdicts by the real fake upstream:
near misses compared with the fresh answer, shadow checks and ratings. A budgeted route starts serving exact
matches only, loosens once enough right verdicts show its wrong-hit rate is under the budget, tightens when wrong
ones arrive, and never serves a threshold whose measured rate is not under it; the dashboard and /metrics show the
rate, its interval, the threshold in force and the evidence; the fleet shares the evidence through Redis."""

from __future__ import annotations

import uuid

import httpx

from gateway.cache.budget import EXACT_ONLY, step_of
from tests.support.clients import PARAPHRASE, PROMPT, TOOLS, ask, rate

BUDGET = "0.1"  # 0 wrong of 29 is under 10 % with 95 % confidence; 0 of 28 is not: a short script
FAQ = {"x-route": "faq"}
NO_STORE = {**FAQ, "cache-control": "no-store"}
RIGHT = "Open Settings, then Security, then Reset password."


def answers(fake_upstream, text: str = RIGHT) -> None:
    """Script upstream's next chat answer: the same text as the cached one is a right verdict, another a wrong one."""
    fake_upstream.fail_next(200, {
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}})


def learnt(gateway) -> dict:
    return httpx.get(f"{gateway.url}/dashboard/data?window=60").json()["learning"].get("faq", {})


def within_budget(gateway) -> dict:
    """The route's state as the dashboard shows it, checked: a threshold looser than exact only is served only on
    evidence whose upper bound is under the budget."""
    route = learnt(gateway)
    if route and route["threshold"] != EXACT_ONLY:
        assert route["evidence"] > 0 and route["wrong_high"] <= float(BUDGET)
    return route


def near_misses(gateway, fake_upstream, count: int) -> None:
    """`count` right verdicts at PARAPHRASE's distance: it is a miss each time (the route is exact only), and its
    fresh answer is PROMPT's cached one."""
    for _ in range(count):
        answers(fake_upstream)
        assert ask(gateway, PARAPHRASE, headers=NO_STORE)[0] == "miss"
        within_budget(gateway)


def test_a_route_starts_exact_only_loosens_on_right_verdicts_and_tightens_on_a_wrong_rating(
        make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, ROUTE_ERROR_BUDGET=f"faq={BUDGET}", CACHE_DISTANCE_THRESHOLD="0.2")
    answers(fake_upstream)
    ask(gateway, headers=FAQ)
    answers(fake_upstream)
    assert ask(gateway, PROMPT.lower(), headers=FAQ)[0] == "miss"  # cold: not even the same words in lower case
    near_misses(gateway, fake_upstream, 27)
    route = within_budget(gateway)
    # 28 right (the lower-case repeat at 0 counts for every threshold): not yet enough to promise 10 %.
    assert (route["threshold"], route["evidence"], route["good"]) == (EXACT_ONLY, 0, 28)
    near_misses(gateway, fake_upstream, 1)
    route = within_budget(gateway)
    assert route["threshold"] > 0 and route["evidence"] >= 29 and route["bad"] == 0
    state, hit, _ = ask(gateway, PARAPHRASE, headers=FAQ)
    assert (state, hit["x-cache-layer"]) == ("hit", "semantic")
    assert step_of(float(hit["x-cache-distance"])) * 0.005 <= route["threshold"] + 1e-9
    assert ask(gateway, PARAPHRASE, headers={"x-route": "default", "cache-control": "no-store"})[0] == "miss"
    # One wrong hit in 31: no longer under 10 % with 95 % confidence, at this distance or any looser one.
    assert rate(gateway, {"id": hit["x-cache-key"], "rating": "bad"}).status_code == 204
    gateway.drain()
    route = within_budget(gateway)
    assert (route["threshold"], route["bad"]) == (EXACT_ONLY, 1)
    answers(fake_upstream)
    ask(gateway, headers=FAQ)  # refills the answer the bad rating removed
    near_misses(gateway, fake_upstream, 1)
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert 'latency_slayer_route_error_budget{route="faq"} 0.1' in metrics
    assert f'latency_slayer_route_threshold{{route="faq"}} {EXACT_ONLY}' in metrics
    assert 'latency_slayer_route_budget_evidence{route="faq"} 0' in metrics


def test_a_wrong_shadow_check_tightens_a_loosened_route_and_metrics_show_the_interval(make_gateway,
                                                                                     fake_upstream) -> None:
    gateway = make_gateway("memory", ROUTE_ERROR_BUDGET=BUDGET, SHADOW_SAMPLE_RATE="1")
    answers(fake_upstream)
    ask(gateway, headers=FAQ)
    near_misses(gateway, fake_upstream, 29)
    route = within_budget(gateway)
    assert route["threshold"] > 0
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert f'latency_slayer_route_budget_evidence{{route="faq"}} {route["evidence"]}' in metrics
    assert 'latency_slayer_route_wrong_hit_rate{route="faq",bound="estimate"} 0.0' in metrics
    upper = next(line for line in metrics.splitlines()
                 if line.startswith('latency_slayer_route_wrong_hit_rate{route="faq",bound="upper"}'))
    assert 0 < float(upper.split()[-1]) <= 0.1
    # A hit now, but every hit is shadow-checked: upstream calls the tool with the paraphrase, not the cached
    # question, so the cached tool call was wrong.
    ask(gateway, headers=FAQ, tools=TOOLS)
    assert ask(gateway, PARAPHRASE, headers=FAQ, tools=TOOLS)[0] == "miss"
    route = within_budget(gateway)
    assert (route["threshold"], route["bad"]) == (EXACT_ONLY, 1)
    near_misses(gateway, fake_upstream, 1)


def test_the_fleet_shares_a_routes_evidence_through_redis(make_gateway, fake_upstream) -> None:
    env = {"ROUTE_ERROR_BUDGET": f"faq={BUDGET}", "INDEX_NAME": f"idx:{uuid.uuid4().hex[:8]}",
           "KEY_PREFIX": f"{uuid.uuid4().hex[:8]}:"}
    one, two = make_gateway("redis", **env), make_gateway("redis", **env)  # workers of one deployment
    answers(fake_upstream)
    ask(one, headers=FAQ)
    near_misses(one, fake_upstream, 29)
    assert ask(two, PARAPHRASE, headers=FAQ)[0] == "hit"  # learnt in the other worker
    assert within_budget(two)["threshold"] > 0


def test_evidence_stays_in_its_tenants_scope_and_a_shared_route_learns_together(make_gateway,
                                                                                 fake_upstream) -> None:
    gateway = make_gateway("memory", ROUTE_ERROR_BUDGET=BUDGET, SHARED_ROUTES="public")
    for route, keys in (("faq", ("sk-teacher", "sk-other")), ("public", ("sk-other",))):  # public: one entry
        for key in keys:
            answers(fake_upstream)
            ask(gateway, key=key, headers={"x-route": route})
        for _ in range(29):  # the teacher's near misses
            answers(fake_upstream)
            assert ask(gateway, PARAPHRASE, key="sk-teacher",
                       headers={"x-route": route, "cache-control": "no-store"})[0] == "miss"
    assert ask(gateway, PARAPHRASE, key="sk-teacher", headers=FAQ)[0] == "hit"
    answers(fake_upstream)
    assert ask(gateway, PARAPHRASE, key="sk-other", headers=NO_STORE)[0] == "miss"  # its own scope is still cold
    assert ask(gateway, PARAPHRASE, key="sk-other", headers={"x-route": "public"})[0] == "hit"  # one scope for all


def test_a_clients_threshold_cannot_loosen_a_budgeted_route(make_gateway, store_kind, fake_upstream) -> None:
    """x-cache-threshold may only tighten a budgeted route: a cold one serves exact matches only whatever the client
    asks, while an unbudgeted route still takes the client's threshold."""
    gateway = make_gateway(store_kind, ROUTE_ERROR_BUDGET=f"faq={BUDGET}", CACHE_DISTANCE_THRESHOLD="0.2")
    for route in ("faq", "default"):
        ask(gateway, headers={"x-route": route})
    loose = {"x-cache-threshold": "2", "cache-control": "no-store"}
    assert ask(gateway, PARAPHRASE, headers={**loose, "x-route": "faq"})[0] == "miss"
    state, hit, _ = ask(gateway, PARAPHRASE, headers={**loose, "x-route": "default"})
    assert (state, hit["x-cache-layer"]) == ("hit", "semantic")


def test_on_a_shared_route_only_a_bad_rating_is_evidence(make_gateway, fake_upstream) -> None:
    """Anyone may rate a shared route's hits, with any number of keys: a good rating there would let throwaway
    keys outvote the measured verdicts and loosen the route for everyone, so only a bad one counts."""
    gateway = make_gateway("memory", ROUTE_ERROR_BUDGET=BUDGET, SHARED_ROUTES="faq")
    answers(fake_upstream)
    ask(gateway, headers=FAQ)
    near_misses(gateway, fake_upstream, 29)
    before = within_budget(gateway)
    for key in ("sk-sybil-1", "sk-sybil-2"):
        state, hit, _ = ask(gateway, PARAPHRASE, key=key, headers=FAQ)
        assert (state, hit["x-cache-layer"]) == ("hit", "semantic")
        assert rate(gateway, {"id": hit["x-cache-key"], "rating": "good"}, key=key).status_code == 204
    gateway.drain()
    assert (within_budget(gateway)["good"], within_budget(gateway)["bad"]) == (before["good"], 0)
    assert rate(gateway, {"id": hit["x-cache-key"], "rating": "bad"}, key="sk-sybil-2").status_code == 204
    gateway.drain()
    assert within_budget(gateway)["bad"] == 1
