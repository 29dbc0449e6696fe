"""`latency-slayer warm` against a served gateway in front of the counting fake upstream, on both stores: a file's
requests are cached for the key that warmed them, a second run spends nothing, and the budgets hold."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from gateway.cli import main
from gateway.metrics.prices import PriceTable
from gateway.warming.command import read_file, warm
from gateway.warming.run import Budget, summary
from tests.support.clients import PROMPT, UNRELATED, ask
from tests.support.fake_upstream.shapes import RESPONSES_PATH
from tests.support.warm_lines import LINES, QUESTIONS

KEY = "sk-client-one"  # the key `ask` sends by default
NO_BUDGET = Budget()


def written(tmp_path: Path, lines: list[dict]) -> Path:
    path = tmp_path / "warm.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    return path


def run(gateway, path: Path, *, budget: Budget = NO_BUDGET, concurrency: int = 1):
    requests = read_file(path, "gpt-4o-mini")
    spend = asyncio.run(warm(requests, url=gateway.base_url, key=KEY, budget=budget, concurrency=concurrency,
                             prices=PriceTable()))
    gateway.drain()
    return spend


def test_a_file_is_warmed_once_and_resumes_for_free(gateway, fake_upstream, tmp_path: Path) -> None:
    path = written(tmp_path, LINES)
    spend = run(gateway, path)
    assert spend.states == {"miss": 4, "hit": 1}
    assert spend.prompt_tokens > 0 and spend.completion_tokens > 0 and spend.cost > 0
    assert fake_upstream.calls() == 3 and fake_upstream.calls(RESPONSES_PATH) == 1
    assert ask(gateway, PROMPT)[0] == "hit"
    assert ask(gateway, UNRELATED, headers={"x-route": "faq"})[0] == "hit"
    assert ask(gateway, UNRELATED)[0] == "miss"  # warmed on its route only
    again = run(gateway, path, concurrency=3)
    assert again.states == {"hit": 5} and again.prompt_tokens == 0
    assert fake_upstream.calls() == 4 and fake_upstream.calls(RESPONSES_PATH) == 1
    assert "warmed 0, already cached 5" in summary(again)


def test_a_warmed_answer_is_its_own_tenants(gateway, fake_upstream, tmp_path: Path) -> None:
    run(gateway, written(tmp_path, LINES[:1]))
    assert ask(gateway, PROMPT, key="sk-client-two")[0] == "miss"


@pytest.mark.parametrize("concurrency", [1, 4])
def test_the_calls_budget_is_never_passed(gateway, fake_upstream, tmp_path: Path, concurrency: int) -> None:
    spend = run(gateway, written(tmp_path, QUESTIONS), budget=Budget(calls=2), concurrency=concurrency)
    assert fake_upstream.calls() == 2 and spend.states == {"miss": 2, "skipped": 4}


def test_the_tokens_budget_is_never_passed(gateway, fake_upstream, tmp_path: Path) -> None:
    cost = ask(gateway, "Question number 9?")[2].usage.total_tokens  # as dear as each of them
    spend = run(gateway, written(tmp_path, QUESTIONS), budget=Budget(tokens=cost * 2 + cost // 2), concurrency=4)
    assert spend.prompt_tokens + spend.completion_tokens == cost * 2
    assert fake_upstream.calls() == 3 and spend.states == {"miss": 2, "skipped": 4}


def test_the_command_refuses_a_bad_file_before_sending_anything(fake_upstream, tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"prompt": "fine"}\n\n{"prompt": ""}\nnot json\n')
    assert main(["warm", str(path), "--url", fake_upstream.base_url]) == 2
    error = capsys.readouterr().err
    assert f"{path}:3: " in error and f"{path}:4: " in error
    assert fake_upstream.calls() == 0


def test_the_command_puts_lines_without_a_route_on_its_route(make_gateway, fake_upstream, tmp_path: Path,
                                                             capsys) -> None:
    gateway = make_gateway("memory")
    path = written(tmp_path, [{"prompt": PROMPT}, {"prompt": UNRELATED, "route": "docs"}])
    assert main(["warm", str(path), "--url", gateway.base_url, "--key", KEY, "--route", "faq"]) == 0
    gateway.drain()
    assert "warmed 2" in capsys.readouterr().out
    assert ask(gateway, PROMPT, headers={"x-route": "faq"})[0] == "hit"
    assert ask(gateway, UNRELATED, headers={"x-route": "docs"})[0] == "hit"
    assert ask(gateway, PROMPT)[0] == "miss"
    with pytest.raises(SystemExit):
        main(["warm", str(path), "--route", "not a route"])
