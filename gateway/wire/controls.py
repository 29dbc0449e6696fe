"""The client-visible cache controls: request headers in, one immutable `Controls` out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.errors import InvalidRequest

DEFAULT_ROUTE = "default"
_ROUTE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
MAX_TTL_SECS = 10 * 365 * 86400
# ASCII digits only, and few of them: int() and float() also read "²", "١", "1_0" and "infinity", and int() of
# thousands of digits raises.
_WHOLE = re.compile(r"[0-9]{1,12}", re.ASCII)
_DECIMAL = re.compile(r"(?:[0-9]{1,3}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})", re.ASCII)


@dataclass(frozen=True)
class Controls:
    route: str = DEFAULT_ROUTE
    lookup: bool = True  # False: `Cache-Control: no-cache` (skip the lookup, still store)
    store: bool = True  # False: `Cache-Control: no-store` (never store)
    ttl_secs: int | None = None  # `x-cache-ttl`: lifetime of what this request stores
    threshold: float | None = None  # `x-cache-threshold`: cosine distance for this request
    # `Cache-Control: max-stale=<s>` or `stale-while-revalidate=<s>`: how long past its TTL an answer may be served
    # while it is refreshed (bounded by the operator's maximum where it is used)
    max_stale_secs: int | None = None
    # `x-cache-origin: warming`: a warming run's request (`latency-slayer warm`), whose answer is counted as written
    # by warming, and whose hits are not anyone's use of it (no refresh-ahead, no prefetch). It changes no answer.
    warming: bool = False


def _ttl(value: str) -> int:
    if not _WHOLE.fullmatch(value) or not 1 <= int(value) <= MAX_TTL_SECS:
        raise InvalidRequest(f"Invalid header 'x-cache-ttl': expected whole seconds from 1 to {MAX_TTL_SECS}.",
                             param="x-cache-ttl", code="invalid_header")
    return int(value)


def _threshold(value: str) -> float:
    number = float(value) if _DECIMAL.fullmatch(value) else -1.0
    if not 0.0 <= number <= 2.0:
        raise InvalidRequest("Invalid header 'x-cache-threshold': expected a cosine distance from 0 to 2.",
                             param="x-cache-threshold", code="invalid_header")
    return number


_STALE = ("max-stale", "stale-while-revalidate")
WARMING = "warming"  # the one value of `x-cache-origin`


def _warming(value: str) -> bool:
    if value.strip().lower() != WARMING:
        raise InvalidRequest(f"Invalid header 'x-cache-origin': the only value is {WARMING!r}.",
                             param="x-cache-origin", code="invalid_header")
    return True


def _max_stale(directives: set[str]) -> int | None:
    """The longest staleness the directives accept; bare `max-stale` accepts any (RFC 9111), which the operator's
    maximum bounds."""
    accepted = None
    for directive in directives:
        name, equals, value = directive.partition("=")
        if name.strip() not in _STALE:
            continue
        value = value.strip().strip('"')
        if not equals and name.strip() == "max-stale":
            seconds = MAX_TTL_SECS
        elif _WHOLE.fullmatch(value):
            seconds = min(int(value), MAX_TTL_SECS)
        else:
            raise InvalidRequest(f"Invalid header 'cache-control': {name.strip()} expects whole seconds.",
                                 param="cache-control", code="invalid_header")
        accepted = seconds if accepted is None else max(accepted, seconds)
    return accepted


def parse_route(value: str, where: str, param: str, code: str) -> str:
    route = value.strip() or DEFAULT_ROUTE
    if not _ROUTE.match(route):
        raise InvalidRequest(f"Invalid {where}: expected 1-64 letters, digits or . _ : / -.", param=param, code=code)
    return route


def _field(headers: Mapping[str, str], name: str) -> str:
    """Every `name` header as one list (RFC 9110 5.3: repeated fields are one comma-separated list), so that a
    second `Cache-Control: no-store`, say added by a proxy, is not lost to the first."""
    getlist = getattr(headers, "getlist", None)  # Starlette's Headers keeps repeated fields; a dict cannot
    return ", ".join(getlist(name)) if getlist is not None else headers.get(name, "")


def parse_controls(headers: Mapping[str, str]) -> Controls:
    """`headers` must look names up case-insensitively (Starlette's `Headers` does)."""
    route = parse_route(headers.get("x-route", DEFAULT_ROUTE), "header 'x-route'", "x-route", "invalid_header")
    directives = {part.strip().lower() for part in _field(headers, "cache-control").split(",")}
    ttl = headers.get("x-cache-ttl")
    threshold = headers.get("x-cache-threshold")
    origin = headers.get("x-cache-origin")
    return Controls(
        route=route,
        lookup="no-cache" not in directives,
        store="no-store" not in directives,
        ttl_secs=_ttl(ttl.strip()) if ttl is not None else None,
        threshold=_threshold(threshold.strip()) if threshold is not None else None,
        max_stale_secs=_max_stale(directives),
        warming=_warming(origin) if origin is not None else False,
    )
