"""`POST /admin/warm` on a served gateway in front of the counting fake upstream, on both stores: a run warms its
requests for the tenant of `x-warm-key` (then they are exact hits), a second run spends nothing, the budgets hold,
a run can be followed and cancelled, one runs at a time, and bad input, unknown runs and callers without the
admin token get the admin error shape with their status."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from tests.support.clients import PROMPT, UNRELATED, ask
from tests.support.fake_upstream.shapes import RESPONSES_PATH
from tests.support.warm_lines import LINES, QUESTIONS

ADMIN = "admin-token-for-warming"
KEY = "sk-client-one"  # the key `ask` sends by default
WAIT_SECS = 15


def jsonl(lines: list[dict]) -> bytes:
    return b"\n".join(orjson.dumps(line) for line in lines) + b"\n"


def admin(gateway, method: str, path: str, token: str | None = ADMIN, key: str | None = KEY,
          **kwargs) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    if key is not None:
        headers["x-warm-key"] = key
    return httpx.request(method, f"{gateway.url}{path}", headers=headers, timeout=10, **kwargs)


def start(gateway, lines: list[dict] | bytes, **options) -> dict:
    body = lines if isinstance(lines, bytes) else jsonl(lines)
    answer = admin(gateway, "POST", "/admin/warm", content=body, params=options)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/admin/warm/{answer.json()['id']}"
    return answer.json()


def ended(gateway, job: dict) -> dict:
    deadline = time.monotonic() + WAIT_SECS
    while time.monotonic() < deadline:
        view = admin(gateway, "GET", f"/admin/warm/{job['id']}").json()
        if view["status"] != "running":
            gateway.drain()
            return view
        time.sleep(0.05)
    raise AssertionError(f"warming run {job['id']} did not end within {WAIT_SECS} s")


def warmed(gateway, lines: list[dict] | bytes, **options) -> dict:
    return ended(gateway, start(gateway, lines, **options))


def error_of(answer: httpx.Response, status: int) -> dict:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    return error


def responses_state(gateway, text: str) -> str | None:
    answer = httpx.post(f"{gateway.base_url}/responses", json={"model": "gpt-4o-mini", "input": text},
                        headers={"authorization": f"Bearer {KEY}"}, timeout=10)
    assert answer.status_code == 200
    return answer.headers.get("x-cache")


@pytest.fixture
def gateway(make_gateway, store_kind):
    return make_gateway(store_kind, ADMIN_TOKEN=ADMIN)


def test_a_run_warms_exact_hits_and_a_second_run_spends_nothing(gateway, fake_upstream) -> None:
    view = warmed(gateway, LINES, concurrency="1")  # one at a time: the repeated line comes back a hit
    assert view["status"] == "finished" and (view["requests"], view["done"]) == (5, 5)
    assert (view["warmed"], view["already_cached"], view["failed"], view["skipped"]) == (4, 1, 0, 0)
    assert view["prompt_tokens"] > 0 and view["completion_tokens"] > 0 and view["cost_usd"] > 0
    assert view["summary"].startswith("warmed 4, already cached 1") and view["ended_at"] >= view["started_at"]
    assert KEY not in str(view)  # a credential is never shown back
    assert fake_upstream.calls() == 3 and fake_upstream.calls(RESPONSES_PATH) == 1
    state, headers, _ = ask(gateway, PROMPT)
    assert (state, headers["x-cache-layer"]) == ("hit", "exact")
    assert ask(gateway, "What is a TTL?")[0] == "hit"
    assert ask(gateway, UNRELATED, headers={"x-route": "faq"})[0] == "hit"
    assert ask(gateway, UNRELATED)[0] == "miss"  # warmed on its route only
    assert responses_state(gateway, "Name a prime number.") == "hit"
    again = warmed(gateway, LINES, concurrency="3")
    assert (again["already_cached"], again["warmed"], again["prompt_tokens"]) == (5, 0, 0)
    assert fake_upstream.calls() == 4 and fake_upstream.calls(RESPONSES_PATH) == 1  # the one `ask` miss


def test_a_runs_hits_are_nobodys_use_so_they_start_no_background_call(make_gateway, store_kind,
                                                                      fake_upstream) -> None:
    """Its hits are no client's: they make no answer hot for refresh-ahead (nor ask a conversation's likely next
    question), whose calls its budget would not count: a second run spends nothing."""
    gateway = make_gateway(store_kind, ADMIN_TOKEN=ADMIN, REFRESH_AHEAD_HITS="1", REFRESH_AHEAD_SHARE="1.0")
    warmed(gateway, LINES, concurrency="1")
    gateway.drain()
    calls = fake_upstream.calls()
    again = warmed(gateway, LINES, concurrency="1")
    gateway.drain()
    assert (again["already_cached"], again["warmed"]) == (5, 0)
    assert fake_upstream.calls() == calls
    ask(gateway, PROMPT)  # a client's hit is a use: refreshed ahead
    gateway.drain()
    assert fake_upstream.calls() == calls + 1


def test_the_answers_are_the_warm_keys_tenants_only(gateway, fake_upstream) -> None:
    warmed(gateway, LINES[:1])
    assert fake_upstream.last().headers["authorization"] == f"Bearer {KEY}"  # its key pays, as a client's would
    assert ask(gateway, PROMPT, key="sk-client-two")[0] == "miss"
    assert ask(gateway, PROMPT)[0] == "hit"


def test_a_json_array_with_a_default_route_and_model(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN)
    view = warmed(gateway, orjson.dumps([{"prompt": PROMPT}, {"prompt": UNRELATED, "route": "docs"}]),
                  route="faq", model="gpt-4o")
    assert view["warmed"] == 2 and orjson.loads(fake_upstream.last().body)["model"] == "gpt-4o"
    assert ask(gateway, PROMPT, model="gpt-4o", headers={"x-route": "faq"})[0] == "hit"
    assert ask(gateway, UNRELATED, model="gpt-4o", headers={"x-route": "docs"})[0] == "hit"  # its own route wins
    assert ask(gateway, PROMPT, model="gpt-4o")[0] == "miss"


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_the_calls_budget_is_never_passed(gateway, fake_upstream, concurrency: str) -> None:
    view = warmed(gateway, QUESTIONS, max_calls="2", concurrency=concurrency)
    assert fake_upstream.calls() == 2 and (view["warmed"], view["skipped"]) == (2, 4)


def test_the_tokens_budget_is_never_passed(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN)
    cost = ask(gateway, "Question number 9?")[2].usage.total_tokens  # as dear as each of them
    view = warmed(gateway, QUESTIONS, max_tokens=str(cost * 2 + cost // 2), concurrency="4")
    assert view["prompt_tokens"] + view["completion_tokens"] == cost * 2
    assert fake_upstream.calls() == 3 and (view["warmed"], view["skipped"]) == (2, 4)


def test_upstream_errors_fail_the_request_and_are_not_cached(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN)
    fake_upstream.fail_next(500)
    view = warmed(gateway, LINES[:1])
    assert (view["status"], view["failed"], view["warmed"]) == ("finished", 1, 0)
    assert view["last_error"].startswith("500 from /chat/completions")
    assert ask(gateway, PROMPT)[0] == "miss"


def test_a_run_is_cancelled_and_only_one_runs_at_a_time(gateway, fake_upstream) -> None:
    fake_upstream.latency = 0.3
    slow = [{"prompt": f"Slow question {number}?"} for number in range(30)]
    job = start(gateway, slow, concurrency="1")
    assert job["status"] == "running" and job["done"] == 0
    refused = error_of(admin(gateway, "POST", "/admin/warm", content=jsonl(LINES)), 409)
    assert refused["code"] == "warm_job_running" and job["id"] in refused["message"]
    deadline = time.monotonic() + WAIT_SECS
    while fake_upstream.calls() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    cancelled = admin(gateway, "DELETE", f"/admin/warm/{job['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    calls = fake_upstream.calls()
    time.sleep(0.5)  # a run still sending would have sent another by now
    assert fake_upstream.calls() == calls <= 2
    view = admin(gateway, "GET", f"/admin/warm/{job['id']}").json()
    assert view["status"] == "cancelled" and view["done"] < 30 and view["summary"]
    fake_upstream.latency = 0
    assert warmed(gateway, LINES[:1])["status"] == "finished"  # the next run may start


def test_a_stopping_gateway_cancels_its_run(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN)
    fake_upstream.latency = 0.2
    job = start(gateway, [{"prompt": f"Slow question {number}?"} for number in range(30)], concurrency="1")
    gateway.stop()
    assert gateway.gateway.warming.get(job["id"]).state == "cancelled"
    calls = fake_upstream.calls()
    time.sleep(0.5)
    assert fake_upstream.calls() <= calls + 1 < 30  # the one in flight as it stopped, if any


def test_gateway_keys_decide_the_tenant_and_refuse_unknown_keys(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN, GATEWAY_API_KEYS="gw-alice, gw-bob")
    refused = ended(gateway, start_as(gateway, "sk-not-a-gateway-key"))
    assert (refused["failed"], refused["warmed"]) == (1, 0) and refused["last_error"].startswith("401 ")
    nobody = ended(gateway, start_as(gateway, None))
    assert nobody["failed"] == 1 and fake_upstream.calls() == 0
    assert ended(gateway, start_as(gateway, "gw-alice"))["warmed"] == 1
    assert ask(gateway, PROMPT, key="gw-alice")[0] == "hit"
    assert ask(gateway, PROMPT, key="gw-bob")[0] == "miss"


def start_as(gateway, key: str | None) -> dict:
    answer = admin(gateway, "POST", "/admin/warm", key=key, content=jsonl(LINES[:1]))
    assert answer.status_code == 202, answer.text
    return answer.json()


@pytest.mark.parametrize(("body", "options", "code", "said"), [
    (b'{"prompt": "fine"}\n\n{"prompt": ""}\nnot json\n', {}, "invalid_warm_file", "line 3: "),
    (b'[{"prompt": "fine"}, 5]', {}, "invalid_warm_file", "item 2: not a JSON object"),
    (b'[{"prompt": "fine"}', {}, "invalid_json", "valid JSON"),
    (b'{"prompt": "a"}' + b"[" * 100 + b"]" * 100, {}, "invalid_warm_file", "nested deeper"),
    (b"\n \n", {}, "invalid_warm_file", "no requests"),
    (b'{"prompt": "fine"}', {"concurrency": "0"}, "invalid_warm_option", "from 1 to 8"),
    (b'{"prompt": "fine"}', {"concurrency": "9"}, "invalid_warm_option", "from 1 to 8"),
    (b'{"prompt": "fine"}', {"max_calls": "-1"}, "invalid_warm_option", "max_calls"),
    (b'{"prompt": "fine"}', {"max_tokens": "1e9"}, "invalid_warm_option", "max_tokens"),
    (b'{"prompt": "fine"}', {"max_call": "5"}, "invalid_warm_option", "Unknown option"),
    (b'{"prompt": "fine"}', {"route": "a b"}, "invalid_warm_option", "route"),
    (b'{"prompt": "fine"}', {"model": ""}, "invalid_warm_option", "model"),
])
def test_bad_input_is_refused_before_anything_is_sent(make_gateway, fake_upstream, body: bytes, options: dict,
                                                      code: str, said: str) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN)
    error = error_of(admin(gateway, "POST", "/admin/warm", content=body, params=options), 400)
    assert error["code"] == code and said in error["message"]
    assert fake_upstream.calls() == 0


def test_bad_lines_are_all_named(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN)
    error = error_of(admin(gateway, "POST", "/admin/warm", content=b'{"prompt": ""}\nnot json\n{"prompt": "ok"}'), 400)
    assert "line 1: " in error["message"] and "line 2: not a JSON object" in error["message"]
    assert "line 3" not in error["message"]


def test_a_repeated_option_is_refused(make_gateway) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN)
    answer = admin(gateway, "POST", "/admin/warm?max_calls=1&max_calls=100", content=jsonl(LINES[:1]))
    assert error_of(answer, 400)["param"] == "max_calls"


def test_a_body_over_the_limit_is_413(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN, MAX_BODY_BYTES="1024")
    error = error_of(admin(gateway, "POST", "/admin/warm", content=jsonl(QUESTIONS * 20)), 413)
    assert error["code"] == "request_too_large" and fake_upstream.calls() == 0


def test_an_unknown_run_is_404(make_gateway) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN)
    for method in ("GET", "DELETE"):
        assert error_of(admin(gateway, method, "/admin/warm/0123456789abcdef"), 404)["code"] == "warm_job_not_found"


@pytest.mark.parametrize("token", ["wrong", None])
def test_the_admin_token_is_required(make_gateway, fake_upstream, token: str | None) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN=ADMIN)
    job = start(gateway, LINES[:1])
    for method, path in (("POST", "/admin/warm"), ("GET", f"/admin/warm/{job['id']}"),
                         ("DELETE", f"/admin/warm/{job['id']}")):
        answer = admin(gateway, method, path, token=token, content=jsonl(QUESTIONS))
        assert error_of(answer, 401)["code"] == "invalid_admin_token"
    assert ended(gateway, job)["status"] == "finished" and fake_upstream.calls() == 1


def test_no_warming_without_an_admin_token(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    assert admin(gateway, "POST", "/admin/warm", content=jsonl(LINES)).status_code == 404
    assert fake_upstream.calls() == 0
