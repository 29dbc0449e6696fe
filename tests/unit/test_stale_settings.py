"""Stale-while-revalidate's inputs, on tables: the client's `Cache-Control` staleness directives, the per-route
windows an operator writes, and windows wider than the operator's maximum refused at start-up."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from gateway.errors import InvalidRequest, SettingsError
from gateway.setting_values import route_seconds
from gateway.settings import load_settings
from gateway.wire.controls import MAX_TTL_SECS, parse_controls
from tests.support.processes import NO_DOTENV


@pytest.mark.parametrize(("value", "accepted"), [
    ("", None), ("no-store", None), ("max-stale=30", 30), ("Max-Stale = 30", 30), ('max-stale="30"', 30),
    ("stale-while-revalidate=5", 5), ("max-stale", MAX_TTL_SECS), ("max-stale=0", 0),
    ("max-stale=5, stale-while-revalidate=60", 60), ("max-stale=999999999999", MAX_TTL_SECS),
    ("no-cache, max-stale=7", 7),
])
def test_staleness_directives(value: str, accepted: int | None) -> None:
    assert parse_controls(Headers({"cache-control": value})).max_stale_secs == accepted


@pytest.mark.parametrize("value", [
    "max-stale=abc", "max-stale=-1", "max-stale=1.5", "max-stale=", "stale-while-revalidate", "max-stale=\u00b2",
    "max-stale=1e3", "max-stale=" + "9" * 13,
])
def test_a_bad_staleness_directive_is_refused_by_name(value: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_controls(Headers({"cache-control": value}))
    assert caught.value.status == 400 and caught.value.param == "cache-control"


@pytest.mark.parametrize(("value", "table"), [
    ("", ()), ("faq=30", (("faq", 30),)), (" faq = 30 , docs=0,", (("docs", 0), ("faq", 30))),
])
def test_route_windows(value: str, table: tuple[tuple[str, int], ...]) -> None:
    assert route_seconds(value) == table


@pytest.mark.parametrize("value", ["faq", "faq=", "=30", "faq=30,faq=40", "faq=-1", "faq=1.5", "faq=９",
                                   "faq=31536001"])
def test_bad_route_windows(value: str) -> None:
    with pytest.raises(ValueError):
        route_seconds(value)


@pytest.mark.parametrize("environ", [
    {"STALE_SECS": "10"}, {"STALE_MAX_SECS": "60", "STALE_ROUTES": "faq=30,docs=61"},
    {"STALE_MAX_SECS": "5", "STALE_SECS": "6"},
])
def test_a_window_wider_than_the_maximum_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="STALE_MAX_SECS"):
        load_settings(environ=environ, dotenv=NO_DOTENV)


def test_stale_serving_is_off_by_default() -> None:
    settings = load_settings(environ={}, dotenv=NO_DOTENV)
    assert (settings.stale_max_secs, settings.stale_secs, settings.stale_routes) == (0, 0, ())
