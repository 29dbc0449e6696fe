"""How a setting's text becomes its value: small parsers that raise ValueError on anything else, so
`gateway.settings` can name the variable and what it accepts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from gateway.errors import SettingsError
from gateway.provider_table import Provider, read_providers

Parser = Callable[[str], Any]


def text(value: str) -> str:
    return value


def optional_text(value: str) -> str | None:
    return value or None


def optional_path(value: str) -> Path | None:
    return Path(value).expanduser() if value else None


def url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError
    return value.rstrip("/")


CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The start-up nodes of a `redis+cluster://[credentials@]host:port[,host:port...]` URL."""
    rest = url.partition("://")[2]
    hosts = rest.rpartition("@")[2]
    if not hosts or any(mark in hosts for mark in "/?#"):
        raise ValueError  # a cluster has one database, and no options here
    nodes = []
    for node in hosts.split(","):
        host, colon, port = node.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError
        nodes.append((host.removeprefix("[").removesuffix("]"), int(port)))  # an IPv6 address in brackets
    return nodes


def optional_redis_url(value: str) -> str | None:
    if not value:
        return None
    if is_cluster_url(value):
        cluster_nodes(value)
    elif not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError
    return value


def int_range(low: int, high: int) -> Parser:
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValueError
        return number

    return parse


def float_range(low: float, high: float) -> Parser:
    def parse(value: str) -> float:
        number = float(value)
        if not low <= number <= high:  # also rejects nan
            raise ValueError
        return number

    return parse


def optional_int_range(low: int, high: int) -> Parser:
    inner = int_range(low, high)
    return lambda value: inner(value) if value else None


def choice(*options: str) -> Parser:
    def parse(value: str) -> str:
        if value.lower() not in options:
            raise ValueError
        return value.lower()

    return parse


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError


def positive(value: str) -> int:
    """A whole number of at least 1 (a command-line count)."""
    number = int(value)
    if number < 1:
        raise ValueError
    return number


def name_list(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


RouteSeconds = tuple[tuple[str, int], ...]  # (route, seconds), sorted


def route_seconds(value: str) -> RouteSeconds:
    """`route=seconds,route=seconds`: whole seconds from 0 to a year per route, each route named once."""
    table: dict[str, int] = {}
    for part in filter(None, (piece.strip() for piece in value.split(","))):
        route, _, seconds = part.partition("=")
        route, seconds = route.strip(), seconds.strip()
        if not route or route in table or not seconds.isascii() or not seconds.isdigit() or len(seconds) > 9:
            raise ValueError
        table[route] = int(seconds)
        if table[route] > 365 * 86400:
            raise ValueError
    return tuple(sorted(table.items()))


KeyTable = tuple[tuple[str, str | None], ...]  # (gateway key, its own upstream key or None), sorted


def key_table(value: str) -> KeyTable:
    """`key1,key2`, or a JSON object `{"gateway key": "its upstream key" or null}` inline or in a file."""
    source = value.strip()
    if source and not source.startswith("{") and "," not in source and Path(source).expanduser().is_file():
        source = Path(source).expanduser().read_text(encoding="utf-8").strip()
    if not source.startswith("{"):
        return tuple((key, None) for key in sorted(name_list(source)))
    table = json.loads(source)
    if not isinstance(table, dict) or not all(
            isinstance(key, str) and key.strip() and (upstream is None or (isinstance(upstream, str) and upstream))
            for key, upstream in table.items()):
        raise ValueError
    return tuple(sorted((key.strip(), upstream) for key, upstream in table.items()))


Prices = tuple[tuple[str, float, float], ...]  # (model name or prefix, input $/1M, output $/1M)


def prices(value: str) -> Prices:
    """`{"model": [input, output], ...}` in dollars per million tokens, inline or in a JSON file at a path."""
    if not value:
        return ()
    try:
        text = value if value.lstrip().startswith("{") else Path(value).expanduser().read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(str(error)) from error
    table = json.loads(text)
    if not isinstance(table, dict):
        raise ValueError
    prices = []
    for model, pair in table.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_price(p) for p in pair)):
            raise ValueError
        prices.append((model, float(pair[0]), float(pair[1])))
    return tuple(prices)


def _is_price(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def upstream_table(value: str) -> tuple[Provider, ...]:
    """The routing table in the file at `value` (`gateway.provider_table`), its keys not yet read."""
    if not value:
        return ()
    try:
        return read_providers(value)
    except ValueError as error:  # what is wrong where, which "expected a file" alone would not say
        raise SettingsError(f"UPSTREAMS_FILE={value!r} is invalid: {error}") from None


class ErrorBudgets(NamedTuple):
    """The share of served semantic hits that may be wrong: per route, else `default`; None: no budget."""

    default: float | None = None
    routes: tuple[tuple[str, float | None], ...] = ()

    def of(self, route: str) -> float | None:
        for name, budget in self.routes:
            if name == route:
                return budget
        return self.default

    def __bool__(self) -> bool:
        return self.default is not None or any(budget is not None for _, budget in self.routes)


def error_budgets(value: str) -> ErrorBudgets:
    """`0.01` (every route), `faq=0.005,code=off` (those routes), or both: `0.01,faq=0.005,code=off`. A budget is
    a share above 0 and below 1; `off` leaves a route without one."""
    default: float | None = None
    routes: dict[str, float | None] = {}
    for part in (part.strip() for part in value.split(",")):
        if not part:
            continue
        route, equals, budget = part.rpartition("=")
        share = None if budget.strip().lower() == "off" else float(budget)
        if share is not None and not 0.0 < share < 1.0:  # also rejects nan
            raise ValueError
        if not equals:
            if share is None or default is not None:
                raise ValueError
            default = share
        elif not route.strip() or route.strip() in routes:
            raise ValueError
        else:
            routes[route.strip()] = share
    return ErrorBudgets(default, tuple(sorted(routes.items())))
