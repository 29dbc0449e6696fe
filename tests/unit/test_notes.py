"""Notes of what the gateway issued: batched while a write is under way, a content-addressed name written once per
half its lifetime, an outage costing nothing but the note."""

from __future__ import annotations

import asyncio

from gateway.cache.notes import Notes
from gateway.errors import CacheUnavailable


class Recorder:
    def __init__(self) -> None:
        self.writes: list[tuple[list[tuple[str, bytes]], int]] = []
        self.failing = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, items: list[tuple[str, bytes]], ttl_ms: int) -> None:
        await self.gate.wait()
        if self.failing:
            raise CacheUnavailable("down")
        self.writes.append((items, ttl_ms))


async def test_notes_added_while_a_write_is_under_way_go_in_one_batch() -> None:
    write = Recorder()
    notes = Notes(write)
    write.gate.clear()
    notes.add([("a", b"1")], ttl_ms=60_000)
    await asyncio.sleep(0)  # the first write is under way, held
    for name in "bcd":
        notes.add([(name, b"x"), ("shared", b"s")], ttl_ms=60_000)
    write.gate.set()
    await notes.drain()
    assert [sorted(name for name, _ in items) for items, _ in write.writes] == [["a"], ["b", "c", "d", "shared"]]


async def test_a_name_written_lately_is_not_written_again() -> None:
    write = Recorder()
    notes = Notes(write)
    notes.add([("a", b"1")], ttl_ms=60_000)
    await notes.drain()
    notes.add([("a", b"1"), ("b", b"2")], ttl_ms=60_000)
    await notes.drain()
    notes.add([("a", b"1")], ttl_ms=60_000)
    await notes.drain()
    assert [[name for name, _ in items] for items, _ in write.writes] == [["a"], ["b"]]
    notes.add([("c", b"3")], ttl_ms=0)  # written, but never remembered as written lately
    await notes.drain()
    notes.add([("c", b"3")], ttl_ms=0)
    await notes.drain()
    assert [[name for name, _ in items] for items, _ in write.writes][-2:] == [["c"], ["c"]]


async def test_a_store_outage_loses_the_note_only() -> None:
    write = Recorder()
    notes = Notes(write)
    write.failing = True
    notes.add([("a", b"1")], ttl_ms=60_000)
    await notes.drain()
    write.failing = False
    notes.add([("a", b"1")], ttl_ms=60_000)  # not remembered as written: written now
    await notes.drain()
    assert [[name for name, _ in items] for items, _ in write.writes] == [["a"]]
