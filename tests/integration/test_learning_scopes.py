"""Learning is scoped like the cache, through a served gateway: what one tenant's ratings, shadow checks and near
misses teach never moves another tenant's threshold; everyone on a shared route learns together; a hit the
client's own `x-cache-threshold` reached is no evidence; and what learning stores and shows is bounded and
never names a tenant."""

from __future__ import annotations

import httpx
import redis

from gateway.cache.learning import STATE_TTL_MS
from gateway.cache.scopes import MAX_ROUTES, Scope
from gateway.metrics.labels import OTHER
from gateway.wire.canonical import tenant_digest
from tests.support.clients import PARAPHRASE, TOOLS, ask, rate

VICTIM, ATTACKER = "sk-victim", "sk-attacker"
ADAPTIVE = {"ADAPTIVE_THRESHOLDS": "true", "ADAPTIVE_START_THRESHOLD": "0.1", "CACHE_DISTANCE_THRESHOLD": "0.2"}
MOUNTAIN = "What is the tallest mountain on earth?"
NO_STORE = {"cache-control": "no-store"}


def threshold(gateway, key: str, route: str = "default") -> float:
    return gateway.gateway.policy.learning.threshold(Scope(route, tenant_digest(key)), 0.2)


def rated_repeat(gateway, key: str, rating: str, route: str = "default") -> None:
    """`key` asks a question, then the same in lower case (a semantic hit at distance 0), and rates that hit."""
    headers = {"x-route": route}
    ask(gateway, MOUNTAIN, key=key, headers=headers)
    state, hit, _ = ask(gateway, MOUNTAIN.lower(), key=key, headers=headers)
    assert (state, hit["x-cache-layer"], float(hit["x-cache-distance"])) == ("hit", "semantic", 0.0)
    assert rate(gateway, {"id": hit["x-cache-key"], "rating": rating}, key=key).status_code == 204


def test_a_bad_rating_tightens_only_the_raters_own_scope(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **ADAPTIVE)
    ask(gateway, key=VICTIM)
    assert ask(gateway, PARAPHRASE, key=VICTIM)[0] == "hit"
    rated_repeat(gateway, ATTACKER, "bad")
    assert ask(gateway, PARAPHRASE, key=VICTIM)[0] == "hit"  # the victim's route is as loose as before
    assert threshold(gateway, VICTIM) == 0.1
    # Identical vectors were wrong: the attacker's own scope tightens, to its floor, not to 0.
    assert threshold(gateway, ATTACKER) == 0.05


def test_shadow_checks_and_near_misses_teach_only_their_own_scope(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", SHADOW_SAMPLE_RATE="1", ADAPTIVE_THRESHOLDS="true",
                           ADAPTIVE_START_THRESHOLD="0.005", CACHE_DISTANCE_THRESHOLD="0.2")
    ask(gateway, MOUNTAIN, key=ATTACKER, tools=TOOLS)
    # Shadowed: upstream calls the tool with the lower-case question, not the cached one: a wrong hit.
    assert ask(gateway, MOUNTAIN.lower(), key=ATTACKER, tools=TOOLS)[0] == "miss"
    assert threshold(gateway, ATTACKER) == 0.0025 and threshold(gateway, VICTIM) == 0.005
    ask(gateway, key=ATTACKER)
    assert ask(gateway, PARAPHRASE, key=ATTACKER)[0] == "miss"  # 0.01 away: a near miss, judged good
    assert threshold(gateway, ATTACKER) > 0.01
    ask(gateway, key=VICTIM)
    assert ask(gateway, PARAPHRASE, key=VICTIM, headers=NO_STORE)[0] == "miss"  # the victim's scope did not loosen
    assert gateway.gateway.policy.learning.snapshot()["default"]["scopes"] == 2


def test_everyone_on_a_shared_route_learns_together(make_gateway, store_kind, fake_upstream) -> None:
    # PARAPHRASE lies 0.01 from PROMPT: inside 0.015, beyond the floor a bad rating may tighten to (0.0075).
    gateway = make_gateway(store_kind, SHARED_ROUTES="faq", ADAPTIVE_THRESHOLDS="true",
                           ADAPTIVE_START_THRESHOLD="0.015", CACHE_DISTANCE_THRESHOLD="0.015")
    faq = {"x-route": "faq"}
    ask(gateway, key=VICTIM, headers=faq)
    state, hit, _ = ask(gateway, PARAPHRASE, key=ATTACKER, headers=faq)
    assert state == "hit"
    assert rate(gateway, {"id": hit["x-cache-key"], "rating": "bad"}, key=ATTACKER).status_code == 204
    ask(gateway, key=VICTIM, headers=faq)  # refills the removed answer
    assert ask(gateway, PARAPHRASE, key=VICTIM, headers={**faq, **NO_STORE})[0] == "miss"


def test_a_hit_under_the_clients_own_threshold_is_not_evidence(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, ADAPTIVE_THRESHOLDS="true", ADAPTIVE_START_THRESHOLD="0.005",
                           CACHE_DISTANCE_THRESHOLD="0.2")
    ask(gateway, key=ATTACKER)
    state, hit, _ = ask(gateway, PARAPHRASE, key=ATTACKER, headers={"x-cache-threshold": "2"})
    assert state == "hit"
    assert rate(gateway, {"id": hit["x-cache-key"], "rating": "good"}, key=ATTACKER).status_code == 204
    assert gateway.gateway.policy.learning.snapshot() == {}  # accepted, but no verdict
    assert threshold(gateway, ATTACKER) == 0.005


def test_nor_is_a_shadow_check_or_a_near_miss_under_it(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", SHADOW_SAMPLE_RATE="1", ADAPTIVE_THRESHOLDS="true",
                           ADAPTIVE_START_THRESHOLD="0.005", CACHE_DISTANCE_THRESHOLD="0.2")
    ask(gateway, key=ATTACKER)
    assert ask(gateway, PARAPHRASE, key=ATTACKER, headers={"x-cache-threshold": "0.2"})[0] == "hit"  # not shadowed
    assert ask(gateway, PARAPHRASE, key=ATTACKER, headers={"x-cache-threshold": "0", **NO_STORE})[0] == "miss"
    gateway.drain()  # so that nothing judged is still on its way
    assert fake_upstream.calls() == 2 and gateway.gateway.policy.learning.snapshot() == {}
    assert ask(gateway, PARAPHRASE, key=ATTACKER, headers=NO_STORE)[0] == "miss"  # the control: a near miss
    gateway.drain()  # its verdict is judged after the answer went out
    assert gateway.gateway.policy.learning.snapshot()["default"]["good"] == 1  # that teaches


def test_a_scopes_stored_state_lives_a_month_not_a_year(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("redis", **ADAPTIVE)
    rated_repeat(gateway, ATTACKER, "bad")
    prefix = gateway.settings.key_prefix + "blob:"
    with redis.Redis.from_url(gateway.settings.redis_url) as client:
        assert 0 < client.pttl(f"{prefix}learnt:{tenant_digest(ATTACKER)}:default") <= STATE_TTL_MS
        assert STATE_TTL_MS <= 31 * 86400 * 1000
        assert not client.exists(f"{prefix}learning:default")  # no state mixing every tenant's evidence


def test_the_dashboard_and_metrics_show_learning_per_route_bounded_and_without_tenants(make_gateway,
                                                                                       fake_upstream) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN="admin-token", **ADAPTIVE)
    routes = [f"r{i:02d}" for i in range(MAX_ROUTES + 2)]
    for route in routes:
        rated_repeat(gateway, ATTACKER, "good", route=route)
    rated_repeat(gateway, VICTIM, "good", route="r00")
    learnt = httpx.get(f"{gateway.url}/dashboard/data?window=60").json()["learning"]
    assert len(learnt) == MAX_ROUTES + 1 and learnt[OTHER]["good"] == 2  # the least judged, together
    assert (learnt["r00"]["good"], learnt["r00"]["scopes"], learnt["r00"]["threshold"]) == (2, 2, 0.1)
    metrics = httpx.get(f"{gateway.url}/metrics").text
    judged = [line for line in metrics.splitlines() if line.startswith("latency_slayer_route_judged_hits_total{")]
    assert len(judged) == 2 * (MAX_ROUTES + 1) and f'route="{OTHER}",verdict="good"}} 2' in metrics
    views = (httpx.get(f"{gateway.url}/dashboard/data?window=60").text, metrics,
             httpx.get(f"{gateway.url}/admin/stats", headers={"authorization": "Bearer admin-token"}).text)
    for digest in (tenant_digest(ATTACKER), tenant_digest(VICTIM)):
        assert not any(digest in view for view in views)

