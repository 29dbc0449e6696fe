"""The client's cache controls read from request headers: `Cache-Control` (every field of it, as one list), its
stale directives bounded and checked, and a clear 400 for what is not whole seconds."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from gateway.errors import InvalidRequest
from gateway.wire.controls import MAX_TTL_SECS, parse_controls


def controls(*cache_control: str):
    return parse_controls(Headers(raw=[(b"cache-control", value.encode("latin-1")) for value in cache_control]))


def test_a_repeated_cache_control_field_is_one_list() -> None:
    read = controls("max-stale=60", "no-store")
    assert (read.store, read.lookup, read.max_stale_secs) == (False, True, 60)
    assert controls("no-cache", "max-age=0").lookup is False


@pytest.mark.parametrize(("sent", "seconds"), [
    (("max-stale=60",), 60),
    (("max-stale",), MAX_TTL_SECS),  # any staleness, which the operator's maximum bounds
    (("stale-while-revalidate=5, max-stale=9",), 9),  # the most any directive accepts
    (("max-stale=5", "max-stale=7"), 7),
    (('max-stale="30"',), 30),
    (("max-stale=999999999999",), MAX_TTL_SECS),  # huge: clamped, never an overflow
    (("MAX-STALE=3",), 3),
    ((),  None),
])
def test_stale_directives(sent: tuple[str, ...], seconds: int | None) -> None:
    assert controls(*sent).max_stale_secs == seconds


@pytest.mark.parametrize("value", ["max-stale=-1", "max-stale=1.5", "max-stale=", "max-stale=9999999999999",
                                   "stale-while-revalidate", "max-stale=\u00b2", "max-stale=1_0", "max-stale=inf"])
def test_a_stale_directive_that_is_not_whole_seconds_is_a_400(value: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        controls(value)
    assert raised.value.status == 400 and raised.value.param == "cache-control"
