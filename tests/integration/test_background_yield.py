"""The yield of answers written without a client asking, through the official OpenAI SDK against a served gateway
on both stores: a hit served from an entry a prefetch, a refresh (stale-while-revalidate's or refresh-ahead's) or a
warming run wrote counts once for that kind, on its event (`origin`), in /metrics, in /admin/stats and on the
dashboard's data; a client-written entry's hit counts for none, and a client's own miss that rewrites a
background-written entry makes its hits the client's again."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from gateway.metrics.prices import PriceTable
from gateway.warming.command import read_file, warm
from gateway.warming.run import Budget
from tests.integration.test_prefetch import FOLLOW_UP, OPENING, PREFETCH, taught
from tests.support.clients import PROMPT, UNRELATED, ask
from tests.support.events import events_of, served, settle

ADMIN = "admin-token"
FIXED = {"RESP_TTL_SECS": "60", "RESP_TTL_SLIDING": "false"}
STALE = {**FIXED, "STALE_MAX_SECS": "60", "STALE_SECS": "30"}
# The client's first answer lives this long; what a background call writes for a later request, a minute.
BRIEF = {"x-cache-ttl": "1"}
REWRITE = {"cache-control": "no-cache"}  # a client's miss that skips the lookup and stores its own answer
_YIELD = re.compile(r'^latency_slayer_background_(written|hits)\{window="1m",kind="(\w+)"\} (\d+)$', re.MULTILINE)


def settled(gateway) -> None:
    gateway.drain()  # the background call
    gateway.drain()  # the write it deferred


def yields(gateway) -> dict[str, tuple[int, int]]:
    """The last minute's answers written without a client asking and the hits served from them, by kind, as
    /metrics says them."""
    settle(gateway)
    found: dict[str, dict[str, int]] = {}
    for what, kind, count in _YIELD.findall(httpx.get(f"{gateway.url}/metrics").text):
        found.setdefault(kind, {})[what] = int(count)
    return {kind: (figures["written"], figures["hits"]) for kind, figures in found.items()}


def hit_origins(gateway) -> list[str]:
    return [event.origin for event in events_of(gateway) if event.outcome == "hit"]


def test_a_prefetched_answer_hit_by_its_client_is_prefetchs_yield(make_gateway, store_kind, fake_upstream) -> None:
    gateway = served(make_gateway, store_kind, **PREFETCH)
    history = taught(gateway, [FOLLOW_UP, FOLLOW_UP])
    assert ask(gateway, OPENING)[0] == "hit"  # a client-written answer: it starts the prefetch
    settled(gateway)
    assert ask(gateway, FOLLOW_UP, history=history)[0] == "hit"
    assert ask(gateway, FOLLOW_UP, history=history)[0] == "hit"
    assert hit_origins(gateway)[-3:] == ["", "prefetch", "prefetch"]
    assert yields(gateway) == {"refresh": (0, 0), "prefetch": (1, 2), "warming": (0, 0)}


def test_a_stale_answers_refresh_is_refreshs_yield_until_a_client_rewrites_it(make_gateway, store_kind,
                                                                               fake_upstream) -> None:
    gateway = served(make_gateway, store_kind, **STALE)
    ask(gateway, headers=BRIEF)
    time.sleep(1.2)
    assert "x-cache-stale" in ask(gateway)[1]  # served stale: the client's answer still
    settled(gateway)
    assert fake_upstream.calls() == 2
    assert ask(gateway)[0] == "hit"  # the refreshed answer
    assert ask(gateway, headers=REWRITE)[0] == "miss"
    assert ask(gateway)[0] == "hit"  # the client's own answer again
    assert hit_origins(gateway) == ["", "refresh", ""]
    assert yields(gateway) == {"refresh": (1, 1), "prefetch": (0, 0), "warming": (0, 0)}


def test_a_refreshed_ahead_answer_is_refreshs_yield(make_gateway, store_kind, fake_upstream) -> None:
    gateway = served(make_gateway, store_kind, **FIXED, REFRESH_AHEAD_HITS="2", REFRESH_AHEAD_SHARE="0.5")
    _, _, first = ask(gateway, headers={"x-cache-ttl": "2"})
    assert ask(gateway)[0] == "hit"
    time.sleep(1.1)
    assert ask(gateway)[0] == "hit"  # due: refreshed in the background
    settled(gateway)
    assert fake_upstream.calls() == 2
    time.sleep(1.0)  # the client's answer has expired by now
    state, _, fresh = ask(gateway)
    assert state == "hit" and fresh.choices[0].message.content != first.choices[0].message.content
    assert hit_origins(gateway) == ["", "", "refresh"]
    assert yields(gateway) == {"refresh": (1, 1), "prefetch": (0, 0), "warming": (0, 0)}


def _warmed(gateway, tmp_path: Path, prompts: list[str]) -> None:
    path = tmp_path / "warm.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps({"prompt": prompt, "model": "gpt-4o-mini"}) for prompt in prompts))
    asyncio.run(warm(read_file(path, "gpt-4o-mini"), url=gateway.base_url, key="sk-client-one", budget=Budget(),
                     concurrency=2, prices=PriceTable()))
    gateway.drain()


def test_warmed_answers_hit_by_clients_are_warmings_yield(make_gateway, store_kind, fake_upstream,
                                                          tmp_path: Path) -> None:
    gateway = served(make_gateway, store_kind, ADMIN_TOKEN=ADMIN)
    ask(gateway, "What is a TTL?")  # a client's own
    _warmed(gateway, tmp_path, [PROMPT, UNRELATED])
    assert "x-cache-origin" not in fake_upstream.last().headers  # the gateway's own header: never forwarded
    _warmed(gateway, tmp_path, [PROMPT, UNRELATED])  # a second run: hits of its own, no one's use of them
    assert fake_upstream.calls() == 3
    for prompt in (PROMPT, PROMPT, UNRELATED, "What is a TTL?"):
        assert ask(gateway, prompt)[0] == "hit"
    assert ask(gateway, UNRELATED, headers=REWRITE)[0] == "miss"
    assert ask(gateway, UNRELATED)[0] == "hit"  # the client's own answer now
    assert yields(gateway) == {"refresh": (0, 0), "prefetch": (0, 0), "warming": (2, 3)}
    stats = httpx.get(f"{gateway.url}/admin/stats", headers={"authorization": f"Bearer {ADMIN}"}).json()
    assert stats["background"]["1m"]["warming"] == {"written": 2, "hits": 3}
    assert stats["background"]["1m"]["refresh"] == {"calls": 0, "tokens": 0, "written": 0, "hits": 0}
    dashboard = httpx.get(f"{gateway.url}/dashboard/data", params={"window": 60}).json()
    assert dashboard["summary"]["yield"]["warming"] == {"written": 2, "hits": 3}


@pytest.mark.parametrize("value", ["refresh", "prefetch", "client", ""])
def test_only_a_warming_run_may_say_what_wrote_an_answer(gateway, fake_upstream, value: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        ask(gateway, headers={"x-cache-origin": value})
    assert raised.value.status_code == 400 and raised.value.body["param"] == "x-cache-origin"
    assert fake_upstream.calls() == 0
