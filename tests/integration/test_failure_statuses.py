"""One failure, one status, wherever it is told: a background refresh's event and the admin and feedback endpoints
read the status and code of an error from the table the error boundary answers clients with
(`gateway.web.failures`), not from a number of their own."""

from __future__ import annotations

import logging
import time

import httpx
import openai
import pytest
import redis

from gateway.errors import StoreError, UpstreamTimeout
from gateway.web.failures import failure
from tests.support.clients import ask, rate
from tests.support.events import events_of, served
from tests.support.redis_server import free_port

FAQ = {"x-route": "faq"}
ADMIN = "admin-token-for-tests"


def test_a_refresh_that_times_out_is_recorded_as_a_timeout(make_gateway, store_kind, fake_upstream) -> None:
    """It was recorded as a 502 whatever failed; a client asking the same upstream is told 504."""
    gateway = served(make_gateway, store_kind, RESP_TTL_SECS="1", RESP_TTL_SLIDING="false", STALE_MAX_SECS="60",
                     STALE_ROUTES="faq=30", UPSTREAM_TIMEOUT_SECS="0.5")
    ask(gateway, headers=FAQ)
    time.sleep(1.2)
    fake_upstream.delay_next(3.0)  # the refresh outlasts the upstream's timeout
    state, headers, _ = ask(gateway, headers=FAQ)
    assert state == "hit" and "x-cache-stale" in headers
    gateway.drain()  # the refresh
    [refresh] = [event for event in events_of(gateway) if event.outcome == "error"]
    assert (refresh.event, refresh.status) == ("refresh", failure(UpstreamTimeout("x"))[0]) == ("refresh", 504)


def test_admin_and_feedback_say_the_store_is_down_as_the_table_does(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", REDIS_URL=f"redis://127.0.0.1:{free_port()}", ADMIN_TOKEN=ADMIN,
                           REDIS_TIMEOUT_MS="200")
    assert ask(gateway)[0] == "bypass"  # requests go on without the store
    flushed = httpx.post(f"{gateway.url}/admin/flush", json={"all": True},
                         headers={"authorization": f"Bearer {ADMIN}"})
    rated = rate(gateway, {"id": "0" * 32, "rating": "bad"})
    expected = failure(StoreError("x"))
    assert (flushed.status_code, flushed.json()["error"]["code"]) == expected == (503, "store_unavailable")
    assert (rated.status_code, rated.json()["error"]["code"]) == expected


def test_deleting_a_served_response_the_store_cannot_mark_says_so_in_openais_shape(make_gateway, redis_server,
                                                                                   fake_upstream, caplog) -> None:
    """Its id stays retrievable, so the client is told the delete did not happen (503), never that it did; the
    store's trouble is not logged again as an error per request."""
    gateway = make_gateway("redis")
    body = {"model": "gpt-4o-mini", "input": "What is the capital of France?"}
    client = openai.OpenAI(base_url=gateway.base_url, api_key="sk-client-one", max_retries=0)
    client.responses.create(**body)
    hit = client.responses.create(**body)
    admin = redis.Redis.from_url(redis_server.url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", "1")  # every write is refused (OOM); reads still answer
    try:
        with caplog.at_level(logging.ERROR, logger="latency_slayer.web"), \
                pytest.raises(openai.InternalServerError) as refused:
            client.responses.delete(hit.id)
    finally:
        admin.config_set("maxmemory", "0")
    assert refused.value.status_code == 503 and refused.value.code == "cache_unavailable"
    assert client.responses.retrieve(hit.id).id == hit.id
    assert [record.getMessage() for record in caplog.records if record.name == "latency_slayer.web"] == []
