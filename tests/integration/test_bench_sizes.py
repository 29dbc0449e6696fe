"""A tiny run of `bench.sizes` keeps it from rotting: every vector type loads, answers and is measured."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench.sizes import run_sizes

# The repo's own pairs: the Quora file the full run uses lives outside the checkout.
TRAPS = Path(__file__).resolve().parents[2] / "bench" / "pairs" / "traps.csv"


def test_sizes_measures_every_vector_type(tmp_path: Path) -> None:
    results = run_sizes(400, ["float32", "float16", "int8"], queries=20, gateway=False, output=tmp_path, pairs=TRAPS)
    measured = results["types"]
    assert orjson.loads((tmp_path / "sizes.json").read_bytes()) == results
    assert "| recall@1 / recall@5 vs exact FLOAT32 |" in (tmp_path / "sizes.md").read_text()
    for result in measured.values():
        assert result["entries"] == 400 and result["bytes_per_entry"] > result["vector_bytes_per_entry"] > 0
        assert result["search_ms"]["p50"] > 0 and 0.9 <= result["recall_at_5"] <= 1.0
    assert measured["float32"]["recall_at_5"] == 1.0  # a small index is searched exactly
    assert measured["int8"]["vector_bytes_per_entry"] < measured["float16"]["vector_bytes_per_entry"] \
        < measured["float32"]["vector_bytes_per_entry"]
