"""Bounds on the names the metrics keep. Model names are free text from clients (routes are checked by the
request parser, worker sources are ours), so a name is cut short before it is queued, written or shown, and each
window counts at most MAX_NAMES distinct names of a kind: the rest are counted together as OTHER. Without
them, a client could fill the queue, the stream, the dashboard and `/metrics` with megabytes of made-up names."""

from __future__ import annotations

MAX_LABEL_CHARS = 64  # the longest route the request parser accepts, and longer than any real model name
MAX_NAMES = 16  # distinct models (and routes) a window keeps apart; the dashboard shows the busiest 10
OTHER = "(other)"


def bounded(value: str) -> str:
    """`value`'s first MAX_LABEL_CHARS characters, minus control and other unprintable characters (a newline
    would end a Prometheus sample, an escape sequence would reach a terminal)."""
    if len(value) <= MAX_LABEL_CHARS and value.isprintable():
        return value  # nearly always: no copy
    return "".join(char for char in value[:MAX_LABEL_CHARS] if char.isprintable())


class NameLimit:
    """Admits at most MAX_NAMES distinct names (besides OTHER): those counted already (`known`), then new ones
    while there is room; every other name becomes OTHER. `known` is the live table of a window, so a name leaves
    it, and frees its place, once the window no longer counts any of its events. One per batch of events."""

    def __init__(self, known: dict[str, object]) -> None:
        self._known = known
        self._fresh: set[str] = set()

    def __call__(self, name: str) -> str:
        if name == OTHER or name in self._known or name in self._fresh:
            return name
        if len(self._known) - (OTHER in self._known) + len(self._fresh) < MAX_NAMES:
            self._fresh.add(name)
            return name
        return OTHER
