"""`POST /v1/cache/feedback` through a served gateway: a bad rating removes the answer and tightens the route."""

from __future__ import annotations

import uuid

import pytest

from tests.support.clients import PARAPHRASE, ask, rate

# PARAPHRASE lies 0.01 from PROMPT: a hit under 0.015; a bad rating of it tightens the route to its floor, 0.0075.
STRICT = {"ADAPTIVE_THRESHOLDS": "true", "ADAPTIVE_START_THRESHOLD": "0.015", "CACHE_DISTANCE_THRESHOLD": "0.015"}


def test_bad_feedback_removes_the_answer_and_tightens_the_route(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **STRICT)
    ask(gateway)
    state, headers, _ = ask(gateway, PARAPHRASE)
    assert state == "hit"
    rating = {"id": headers["x-cache-key"], "rating": "bad", "distance": float(headers["x-cache-distance"])}
    assert rate(gateway, rating, key="sk-someone-else").status_code == 404  # not theirs to rate
    assert rate(gateway, rating).status_code == 204
    # Read before the near misses below: each is judged against its cached neighbour, and whether the fake
    # upstream's two answers agree depends on its process-wide answer numbers, so on the tests run before.
    assert gateway.gateway.policy.learning.snapshot()["default"]["bad"] == 1
    no_store = {"cache-control": "no-store"}
    assert ask(gateway, PARAPHRASE, headers=no_store)[0] == "miss"  # the answer is gone
    assert ask(gateway)[0] == "miss"  # refills the original entry
    assert ask(gateway, PARAPHRASE, headers=no_store)[0] == "miss"  # the route is now stricter than this distance


def test_good_feedback_is_recorded(gateway, fake_upstream) -> None:
    ask(gateway)
    _, headers, _ = ask(gateway, PARAPHRASE)
    assert rate(gateway, {"id": headers["x-cache-key"], "rating": "good"}).status_code == 204
    assert gateway.gateway.policy.learning.snapshot()["default"]["good"] == 1


@pytest.mark.parametrize("body", [{}, {"id": "x"}, {"id": "x", "rating": "meh"}, {"id": 5, "rating": "bad"},
                                  {"id": "x", "rating": "bad", "distance": "far"}])
def test_malformed_feedback_is_400(gateway, body: dict) -> None:
    response = rate(gateway, body)
    assert response.status_code == 400 and set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_feedback_on_an_unknown_entry_is_404(gateway) -> None:
    assert rate(gateway, {"id": "0" * 32, "rating": "bad"}).status_code == 404


def test_shadow_mode_answers_from_upstream_and_records_a_verdict(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, SHADOW_SAMPLE_RATE="1")
    ask(gateway)
    state, _, fresh = ask(gateway, PARAPHRASE)
    assert state == "miss" and fake_upstream.calls() == 2  # the would-be hit went upstream
    assert fresh.choices[0].message.content.endswith(f"to: {PARAPHRASE}")  # fresh, not the cached answer
    gateway.drain()  # the verdict is judged after the answer went out
    verdict = gateway.gateway.policy.learning.snapshot()["default"]
    assert verdict["good"] + verdict["bad"] == 1 and verdict["precision"] in (0.0, 1.0)
    assert ask(gateway)[0] == "hit"  # exact hits are never shadowed, and the entry was not overwritten


def test_a_near_miss_teaches_an_adaptive_route(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, ADAPTIVE_THRESHOLDS="true", ADAPTIVE_START_THRESHOLD="0",
                           CACHE_DISTANCE_THRESHOLD="0.3")
    ask(gateway)
    assert ask(gateway, PARAPHRASE)[0] == "miss"  # a strict route: too far, but close enough to be judged
    gateway.drain()  # the verdict is judged after the answer went out
    snapshot = gateway.gateway.policy.learning.snapshot()["default"]
    assert snapshot["good"] + snapshot["bad"] == 1


def test_admission_by_asks_and_temperature_through_the_gateway(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ADMIT_AFTER_ASKS="2", MAX_CACHEABLE_TEMPERATURE="0.5")
    assert [ask(gateway)[0] for _ in range(3)] == ["miss", "miss", "hit"]
    hot = [ask(gateway, "Write a poem about the sea.", temperature=0.9)[0] for _ in range(3)]
    assert hot == ["miss", "miss", "miss"]


def test_a_bad_rating_in_one_worker_tightens_the_route_in_every_worker(make_gateway, fake_upstream) -> None:
    env = {**STRICT, "INDEX_NAME": f"idx:{uuid.uuid4().hex[:8]}", "KEY_PREFIX": f"{uuid.uuid4().hex[:8]}:"}
    one, two = make_gateway("redis", **env), make_gateway("redis", **env)  # workers of one deployment
    ask(one)
    state, headers, _ = ask(one, PARAPHRASE)
    assert state == "hit"
    rating = {"id": headers["x-cache-key"], "rating": "bad", "distance": float(headers["x-cache-distance"])}
    assert rate(one, rating).status_code == 204
    assert ask(two)[0] == "miss"  # refills the original entry; the other worker's rating was never seen here
    no_store = {"cache-control": "no-store"}
    assert ask(two, PARAPHRASE, headers=no_store)[0] == "miss"  # the route is stricter here too
    assert two.gateway.policy.learning.snapshot()["default"]["bad"] == 1


@pytest.mark.parametrize("rating", ["good", "bad"])
def test_feedback_rates_a_hit_at_the_distance_it_was_served_and_only_once(make_gateway, store_kind, fake_upstream,
                                                                           rating: str) -> None:
    gateway = make_gateway(store_kind, ADAPTIVE_THRESHOLDS="true", ADAPTIVE_START_THRESHOLD="0.03",
                           CACHE_DISTANCE_THRESHOLD="0.2")
    ask(gateway)
    state, headers, _ = ask(gateway, PARAPHRASE)
    assert state == "hit"
    served_at = float(headers["x-cache-distance"])
    # Claims to loosen the route to the ceiling, or to tighten it to nothing, sent again and again.
    claim = {"id": headers["x-cache-key"], "rating": rating, "distance": 0.2 if rating == "good" else 0.0}
    statuses = {rate(gateway, claim).status_code for _ in range(5)}
    assert statuses == ({204} if rating == "good" else {204, 404})  # a bad rating removes the entry
    route = gateway.gateway.policy.learning.snapshot()["default"]
    assert route[rating] == 1  # one hit served, one verdict
    if rating == "good":  # one step beyond the distance served at, not the claimed ceiling
        assert route["threshold"] == pytest.approx(max(0.03, served_at + 0.005), abs=1e-3)
    else:  # one step below it, not the claimed 0, nor below the floor: half the start
        assert route["threshold"] == pytest.approx(max(0.015, served_at - 0.005), abs=1e-3)


def test_a_caller_cannot_loosen_a_route_with_ratings_of_hits_it_was_never_served(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ADAPTIVE_THRESHOLDS="true", ADAPTIVE_START_THRESHOLD="0.05",
                           CACHE_DISTANCE_THRESHOLD="0.3", SHARED_ROUTES="faq")
    faq = {"x-route": "faq"}
    _, headers, _ = ask(gateway, headers=faq)
    assert ask(gateway, headers=faq)[0] == "hit"  # an exact hit: no distance to learn from
    for _ in range(20):
        assert rate(gateway, {"id": headers.get("x-cache-key") or _exact_id(gateway, faq), "rating": "good",
                              "distance": 0.3}, key="sk-attacker").status_code == 204
    assert gateway.gateway.policy.learning.snapshot().get("faq", {"threshold": 0.05})["threshold"] == 0.05


def _exact_id(gateway, headers: dict) -> str:
    _, hit_headers, _ = ask(gateway, headers=headers)
    return hit_headers["x-cache-key"]


@pytest.mark.parametrize("entry", ["blob:learning:default", "learning:default", "scopes", "asks:" + "0" * 32,
                                   "0" * 31, "0" * 32 + "\n", "../" + "0" * 29, "A" * 32])
def test_feedback_naming_anything_but_an_entry_is_refused_and_harms_nobody(make_gateway, store_kind, fake_upstream,
                                                                          entry: str) -> None:
    gateway = make_gateway(store_kind)
    ask(gateway)
    ask(gateway, "Please explain embeddings", headers={"cache-control": "no-cache"})
    response = rate(gateway, {"id": entry, "rating": "bad"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "id"
    assert ask(gateway)[0] == "hit"  # the store was not tripped into bypassing for everyone
    assert not gateway.gateway.policy.layers.store_guard.down
