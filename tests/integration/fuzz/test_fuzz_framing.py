"""HTTP framing against the fuzzed gateway: a Content-Length that lies, an upload the client abandons, and bodies
over the limit, which get their 413 and leave the connection usable."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from tests.support.fuzz_checks import JSON, check_answer, entries_of
from tests.support.traffic import wait_until


def _exchange(port: int, raw: bytes, *, half_close: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while b"\r\n\r\n" not in received or len(received) < received.find(b"\r\n\r\n") + 4 + _length(received):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
        return received


def _length(raw: bytes) -> int:
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _status_and_body(raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


_VALID = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "framing"}]}).encode()


@pytest.mark.parametrize(("name", "declared", "half_close"), [
    ("shorter", str(len(_VALID) // 2), False),
    ("zero", "0", False),
    ("longer-then-eof", str(len(_VALID) + 50), True),
    ("not-a-number", "abc", False),
    ("negative", "-5", False),
    ("two-values", f"{len(_VALID)}, {len(_VALID) + 1}", False),
    ("superscript", "\u00b2", False),
])
def test_lying_content_length_is_a_4xx_and_harmless(fuzzed, caplog, name: str, declared: str,
                                                    half_close: bool) -> None:
    served, http = fuzzed
    entries = entries_of(served)
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\nConnection: close\r\n\r\n").encode("latin-1")
    raw = _exchange(served.port, head + _VALID, half_close=half_close)
    if raw:  # a client that hung up mid-body may get no answer at all, which is fine
        status, body = _status_and_body(raw)
        assert 400 <= status < 500, f"{name}: {raw[:300]!r}"
        if body:
            check_answer(status, httpx.Headers(), body, name)
    assert entries_of(served) == entries
    # A client's framing mistake is not the gateway's failure: nothing is logged as an unexpected error.
    unexpected = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not unexpected, [r.getMessage() for r in unexpected]
    assert http.get("/healthz").status_code == 200


def test_a_client_that_aborts_its_upload_is_not_an_internal_error(fuzzed, caplog) -> None:
    served, http = fuzzed
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000\r\n\r\n")
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(head + _VALID)  # then leave with 9 KB of the body never sent
    assert http.get("/healthz").status_code == 200

    def logged_errors() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]

    wait_until(lambda: bool(logged_errors()), timeout=1.0)  # the gateway learns of each abort asynchronously
    assert not logged_errors(), logged_errors()[:3]


def test_oversized_bodies_get_their_413_and_leave_the_connection_usable(fuzzed) -> None:  # type: ignore[no-untyped-def]
    # A client that sends a whole oversized body must read the 413 (not a reset connection, which the SDKs
    # retry as a network error), and its keep-alive connection must not die under the next request.
    served, _ = fuzzed
    failures: list[str] = []
    with httpx.Client(base_url=served.url, timeout=10) as client:
        for attempt in range(300):
            size = (300_000, 1_000_000)[attempt % 2]
            for body, expected in ((b"{" + b" " * size + b"}", 413), (b"{}", 400)):
                try:
                    status = client.post("/v1/chat/completions", content=body, headers=dict(JSON)).status_code
                except httpx.HTTPError as error:
                    failures.append(f"attempt {attempt}, {len(body)} bytes: {error.__class__.__name__}: {error}")
                    continue
                if status != expected:
                    failures.append(f"attempt {attempt}, {len(body)} bytes: {status} instead of {expected}")
    assert not failures, f"{len(failures)} of 600 requests failed: {failures[:5]}"
