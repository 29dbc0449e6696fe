"""The benchmarks' made-up entries get ids a Redis Cluster can place: their scope's shard first, as every entry id
the gateway makes (a cluster's write script refuses an entry whose id names another slot than its scope)."""

from __future__ import annotations

import pytest

from bench.sizes import row_of_id, synthetic_id
from gateway.wire.canonical import ENTRY_ID, SHARD_CHARS, shard_of


@pytest.mark.parametrize("row", [0, 1, 999_999, 16**28 - 1])
@pytest.mark.parametrize("context", ["a" * 32, "0123456789abcdef0123456789abcdef"])
def test_synthetic_ids_start_with_their_scopes_shard(context: str, row: int) -> None:
    key = synthetic_id(context, row)
    assert ENTRY_ID.fullmatch(key) and key[:SHARD_CHARS] == shard_of(context)
    assert row_of_id(key) == row


def test_two_rows_of_a_scope_never_share_an_id() -> None:
    assert len({synthetic_id("c" * 32, row) for row in range(10_000)}) == 10_000
