"""The request id a client may choose (`x-request-id`): a plausible one is kept, anything else is replaced, and so is
one that looks like a credential, so that a key pasted there by mistake never reaches the access log, the metrics
stream or the upstream."""

from __future__ import annotations

import pytest

from gateway.wire.request_id import request_id

KEY = "sk-proj-abc123DEF456ghi789"


@pytest.mark.parametrize(("sent", "credentials"), [
    ("req-alice-1", []),
    ("01J9ZK4W6Q:bob/2+=", [(b"authorization", f"Bearer {KEY}".encode())]),
    ("task-7", [(b"x-api-key", b"ant-key-1234567890")]),
    ("ab", [(b"authorization", b"Bearer ab")]),  # a key too short to be a secret refuses nothing
])
def test_a_plausible_id_is_kept(sent: str, credentials: list[tuple[bytes, bytes]]) -> None:
    assert request_id([(b"x-request-id", sent.encode()), *credentials]) == sent


@pytest.mark.parametrize(("sent", "credentials"), [
    ("sk-proj-abc123DEF456ghi789", []),  # any OpenAI-style key, presented or not
    ("SK-ant-api03-xyz", []),
    ("sk_live_51Habc", []),
    ("abc123DEF456ghi789", [(b"authorization", b"Bearer abc123DEF456ghi789")]),  # the bearer token itself
    ("req-abc123DEF456ghi789-1", [(b"authorization", b"bearer  abc123DEF456ghi789")]),  # ... within the id
    ("gw-team-key-0001", [(b"x-api-key", b"gw-team-key-0001")]),
    ("id:gw-team-key-0001", [(b"api-key", b"gw-team-key-0001")]),
])
def test_an_id_that_looks_like_a_credential_is_replaced(sent: str, credentials: list[tuple[bytes, bytes]]) -> None:
    made = request_id([*credentials, (b"x-request-id", sent.encode())])
    assert made != sent and len(made) == 32 and int(made, 16) >= 0


def test_only_the_first_id_counts() -> None:
    assert request_id([(b"x-request-id", b"first"), (b"x-request-id", b"second")]) == "first"
    assert request_id([(b"x-request-id", KEY.encode()), (b"x-request-id", b"second")]) != "second"
