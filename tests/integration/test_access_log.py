"""The access log and the request id, through a served gateway on both stores: one JSON line per request with
its fields, probes at debug, nothing from the query string; the request id taken from a plausible `x-request-id`
or made, returned on every response, sent upstream, in the event and the line; a hit carries its own caller's."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from gateway.logs import ACCESS_LOGGER
from tests.support.clients import PROMPT, ask, client, stream
from tests.support.events import events_of, served

GENERATED = re.compile(r"[0-9a-f]{32}")


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int = logging.DEBUG) -> list[dict]:
        return [orjson.loads(record.getMessage()) for record in self.records if record.levelno >= level]


@pytest.fixture
def access() -> Iterator[Lines]:
    """The access log's records, whatever another test did to the logger's handlers."""
    logger = logging.getLogger(ACCESS_LOGGER)
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def settled(gateway, access: Lines, count: int) -> list[dict]:
    """The `count` info lines, once written: a line is written just after its response's last bytes."""
    events_of(gateway)
    deadline = time.monotonic() + 5
    while len(lines := access.lines(logging.INFO)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(lines) == count, lines
    return lines


def test_one_line_per_request_with_its_fields(make_gateway, fake_upstream, store_kind, access) -> None:
    gateway = served(make_gateway, store_kind)
    _, miss_headers, _ = ask(gateway)
    _, hit_headers, _ = ask(gateway)
    stream(gateway, "a streamed question")
    models = httpx.get(f"{gateway.base_url}/models?api_key=sk-in-the-query", headers={"authorization": "Bearer sk-x"})
    bad = httpx.post(f"{gateway.base_url}/chat/completions", json={"model": "gpt-4o-mini"})
    assert httpx.get(f"{gateway.url}/healthz").status_code == models.status_code == 200 and bad.status_code == 400
    for quiet in ("/livez", "/readyz", "/metrics", "/dashboard/data"):
        assert httpx.get(f"{gateway.url}{quiet}").status_code == 200
    miss, hit, streamed, listed, invalid = settled(gateway, access, 5)

    assert (miss["method"], miss["path"], miss["status"], miss["api"], miss["outcome"], miss["layer"]) == (
        "POST", "/v1/chat/completions", 200, "chat", "miss", None)
    assert (hit["outcome"], hit["layer"], hit["upstream_ms"], hit["stream"]) == ("hit", "exact", None, False)
    assert miss["model"] == "gpt-4o-mini" and miss["route"] == "default"
    assert 0 < miss["upstream_ms"] <= miss["latency_ms"] and hit["latency_ms"] > 0
    assert miss["request_id"] == miss_headers["x-request-id"] and hit["request_id"] == hit_headers["x-request-id"]
    assert GENERATED.fullmatch(miss["request_id"]) and miss["request_id"] != hit["request_id"]
    assert streamed["stream"] is True and 0 < streamed["ttfb_ms"] <= streamed["latency_ms"]
    # Not a cache request: no outcome, and no query string (a client may put a key there).
    assert (listed["path"], listed["api"], listed["outcome"], listed["status"]) == ("/v1/models", None, None, 200)
    assert (invalid["status"], invalid["outcome"]) == (400, "error")
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]) for line in (miss, invalid))
    # Probes, scrapes and the dashboard's polls: at debug only.
    quiet = {"/healthz", "/livez", "/readyz", "/metrics", "/dashboard/data"}
    assert quiet <= {line["path"] for line in access.lines()}
    assert all(record.levelno == logging.DEBUG for record in access.records
               if orjson.loads(record.getMessage())["path"] in quiet)
    assert all(set(line) == set(miss) for line in access.lines())


def test_a_client_request_id_is_kept_sent_upstream_and_evented(make_gateway, fake_upstream, store_kind,
                                                             access) -> None:
    gateway = served(make_gateway, store_kind)
    _, first, _ = ask(gateway, headers={"x-request-id": "req-alice-1"})
    _, second, _ = ask(gateway, key="sk-client-one", headers={"x-request-id": "01J9ZK4W6Q:bob/2+="})
    assert (first["x-cache"], second["x-cache"]) == ("miss", "hit")
    # The hit answers with its own caller's id, not that of the request whose answer it replays.
    assert (first["x-request-id"], second["x-request-id"]) == ("req-alice-1", "01J9ZK4W6Q:bob/2+=")
    [upstream] = fake_upstream.requests
    assert upstream.headers["x-request-id"] == "req-alice-1"
    assert [event.request_id for event in events_of(gateway)] == ["req-alice-1", "01J9ZK4W6Q:bob/2+="]
    assert [line["request_id"] for line in settled(gateway, access, 2)] == ["req-alice-1", "01J9ZK4W6Q:bob/2+="]


@pytest.mark.parametrize("sent", ["a" * 129, "two words", 'quote"d', "caf\u00e9", "{json}", ""])
def test_an_implausible_request_id_is_replaced(make_gateway, fake_upstream, access, sent: str) -> None:
    gateway = make_gateway("memory")
    headers = [("x-request-id", sent.encode()), ("authorization", b"Bearer sk-client-one")]
    response = httpx.post(f"{gateway.base_url}/chat/completions", headers=headers,
                          json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]})
    assert response.status_code == 200
    made = response.headers["x-request-id"]
    assert GENERATED.fullmatch(made)
    assert fake_upstream.requests[0].headers["x-request-id"] == made  # the client's never goes upstream
    assert [line["request_id"] for line in settled(gateway, access, 1)] == [made]


def test_every_response_carries_a_request_id(make_gateway, fake_upstream, access) -> None:
    gateway = make_gateway("memory")
    with httpx.Client() as http:
        answers = [http.get(f"{gateway.url}/healthz"), http.get(f"{gateway.url}/nowhere"),
                   http.get(f"{gateway.url}/metrics"), http.post(f"{gateway.base_url}/chat/completions", content=b"{")]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert [answer.status_code for answer in answers] == [200, 404, 200, 400] and len(set(ids)) == len(ids)
    assert all(GENERATED.fullmatch(rid) for rid in ids)


def test_an_upstream_request_id_is_kept_beside_ours(make_gateway, fake_upstream, access) -> None:
    gateway = make_gateway("memory")
    fake_upstream.chat_headers = {"x-request-id": "req_upstream_7"}
    _, headers, _ = ask(gateway, headers={"x-request-id": "mine-1"})
    assert (headers["x-request-id"], headers["x-upstream-request-id"]) == ("mine-1", "req_upstream_7")
    [line] = settled(gateway, access, 1)
    assert (line["request_id"], line["upstream_request_id"]) == ("mine-1", "req_upstream_7")


def test_the_access_log_can_be_turned_off(make_gateway, fake_upstream, access) -> None:
    gateway = make_gateway("memory", ACCESS_LOG="off")
    ask(gateway)
    client(gateway).models.list()
    events_of(gateway)
    assert access.records == []


def test_its_level_is_a_setting(make_gateway, fake_upstream, access) -> None:
    gateway = make_gateway("memory", ACCESS_LOG="warning")
    ask(gateway)
    events_of(gateway)
    assert [record.levelno for record in access.records if b"/v1/" in record.getMessage().encode()] == [
        logging.WARNING]
