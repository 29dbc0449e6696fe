"""`METRICS_TOKEN`: unset, the dashboard, its data and `/metrics` are open; set, each needs the token, as a bearer
token or as the password of HTTP Basic authentication (any user name), and anything else gets a 401 in OpenAI's
error shape that makes a browser ask for it. The token never reaches a log line, an event or a page."""

from __future__ import annotations

import base64
import logging
import uuid

import httpx
import pytest

from gateway.metrics.events import encode
from tests.support.clients import ask
from tests.support.events import events_of, served

TOKEN = f"mt-{uuid.uuid4().hex}"
PATHS = ("/", "/dashboard", "/dashboard/dashboard.js", "/dashboard/data?window=60", "/metrics")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


REFUSED = (None, "Bearer wrong", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", basic("admin", "wrong"),
           basic(TOKEN, ""), basic(TOKEN, "x"), f"Basic {TOKEN}", "Basic !!!", f"Token {TOKEN}", TOKEN, "Bearer")
ADMITTED = (f"Bearer {TOKEN}", f"bearer  {TOKEN}", basic("anyone", TOKEN), basic("", TOKEN))


def get(gateway, path: str, authorization: str | None = None) -> httpx.Response:
    return httpx.get(gateway.url + path, headers={"authorization": authorization} if authorization else None)


def test_without_the_setting_everything_stays_open(make_gateway) -> None:
    gateway = make_gateway("memory")
    assert gateway.settings.metrics_token is None
    for path in PATHS:
        assert get(gateway, path).status_code == 200, path
        assert get(gateway, path, "Bearer anything").status_code == 200, path


def test_the_token_is_needed_as_a_bearer_token_or_a_basic_password(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", METRICS_TOKEN=TOKEN)
    for path in PATHS:
        for authorization in REFUSED:
            refused = get(gateway, path, authorization)
            assert refused.status_code == 401, (path, authorization)
            assert refused.headers["www-authenticate"] == 'Basic realm="latency-slayer"'  # a browser asks
            error = refused.json()["error"]
            assert (error["type"], error["code"], error["param"]) == ("authentication_error", "invalid_metrics_token",
                                                                      None)
        for authorization in ADMITTED:
            assert get(gateway, path, authorization).status_code == 200, (path, authorization)
    assert get(gateway, "/dashboard/secrets.txt", ADMITTED[0]).status_code == 404
    assert get(gateway, "/healthz").status_code == 200  # the API and the health check are not behind it
    assert ask(gateway)[0] == "miss"


def test_the_token_never_appears_in_logs_events_or_what_the_dashboard_serves(make_gateway, fake_upstream,
                                                                              store_kind, caplog) -> None:
    for name in ("", *logging.root.manager.loggerDict):  # every logger at DEBUG, restored afterwards
        caplog.set_level(logging.DEBUG, logger=name or None)
    gateway = served(make_gateway, store_kind, METRICS_TOKEN=TOKEN, LOG_LEVEL="debug")
    ask(gateway)
    ask(gateway, headers={"authorization": f"Bearer {TOKEN}"})  # a client that sends it where it does not belong
    served_text = [get(gateway, path, authorization).text for path in PATHS
                   for authorization in (*REFUSED, *ADMITTED)]
    entries = [encode(event) for event in events_of(gateway)]
    assert len(entries) == 2
    core = TOKEN.removeprefix("mt-")
    for text in (caplog.text, *(repr(record.args) for record in caplog.records), repr(gateway.settings),
                 *map(repr, entries), *served_text):
        assert not any(core[at:at + 10] in text for at in range(len(core) - 9)), text[:200]


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_token_leaves_the_dashboard_open(make_gateway, value: str) -> None:
    gateway = make_gateway("memory", METRICS_TOKEN=value)
    assert gateway.settings.metrics_token is None and get(gateway, "/metrics").status_code == 200
