"""Clients hanging up mid-stream, a few hundred times, before the answer or during it, closing (FIN) or resetting
(RST): the upstream request is closed when its client goes away (nobody pays for an answer nobody reads), nothing
partial is stored, and no task or connection leaks."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import pytest

from tests.support.clients import ask, stream
from tests.support.fake_upstream import FakeUpstream
from tests.support.traffic import loop_tasks, open_sockets, wait_until


def _entries(served) -> int:  # type: ignore[no-untyped-def]
    health = served.run(served.gateway.policy.layers.store.health())
    return int(health.get("documents", health.get("entries", 0)))


def _raw_stream_request(port: int, prompt: str) -> bytes:
    body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": prompt}]}).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer sk-hangup\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (port, len(body), body))


# When a client leaves: as soon as its request is sent (the gateway is still looking up the cache or connecting
# upstream: a user pressing "stop" at once, a client timeout), after the headers, after one event, after five.
_LEAVE_WHEN = {
    "before-answer": (lambda got: True,),
    "mid-stream": (lambda got: b"\r\n\r\n" in got, lambda got: b"data:" in got,
                   lambda got: got.count(b"data:") >= 5),
}


def _hang_up(port: int, prompt: str, when: str, n: int) -> None:
    """Send a streamed request, then leave at the `n`th moment of `when`; odd `n` reset the connection (RST)
    instead of closing it (FIN)."""
    moments = _LEAVE_WHEN[when]
    done = moments[n % len(moments)]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_raw_stream_request(port, prompt))
        received = b""
        while not done(received):
            chunk = sock.recv(4096)
            if not chunk:
                raise AssertionError(f"the gateway closed the stream first: {received[:200]!r}")
            received += chunk
        if n % 2:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize(("when", "count"), [("before-answer", 120), ("mid-stream", 240)])
def test_clients_hanging_up_close_the_upstream_store_nothing_and_leak_nothing(
        make_gateway, store_kind: str, when: str, count: int) -> None:
    with FakeUpstream(chunk_delay=0.02, extra_words=200) as upstream:  # a whole answer takes 4 s
        gateway = make_gateway(store_kind, UPSTREAM_BASE_URL=upstream.base_url)
        # Warm every pool (client, upstream, Redis) so that the baseline holds its steady connections.
        ask(gateway, "warm-up question", key="sk-hangup")
        upstream.chunk_delay = 0
        stream(gateway, "warm-up stream", key="sk-hangup")
        upstream.chunk_delay = 0.02
        errors: list[BaseException] = []

        def hang_up_many(thread: int, round_name: str) -> None:
            try:
                for i in range(count // 4):
                    _hang_up(gateway.port, f"hang-up {round_name} question {thread}-{i}", when, i + thread)
            except BaseException as error:  # reported below
                errors.append(error)

        def burst(round_name: str) -> float:
            started = time.monotonic()
            threads = [threading.Thread(target=hang_up_many, args=(n, round_name)) for n in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            return time.monotonic() - started

        # A first burst grows the connection pools (Redis, upstream) to their size under this concurrency;
        # a leak is what a second, identical burst adds on top.
        burst("warm-up")
        wait_until(lambda: all(r.ended is not None for r in upstream.streams), 6)
        gateway.drain()
        entries, sockets, tasks = _entries(gateway), open_sockets(), loop_tasks(gateway)
        streams_before = len(upstream.streams)
        elapsed = burst("measured")
        assert not errors, errors[:3]

        # Give the gateway the time a whole upstream answer takes to notice, close and clean up; then measure.
        wait_until(lambda: all(r.ended is not None for r in upstream.streams[streams_before:]), 6)
        tasks_settled = wait_until(lambda: loop_tasks(gateway) <= tasks, 3)
        # A pool may still grow by a connection or two when a burst happens to overlap more than the first did; a
        # leak grows with the hang-ups (hundreds), so a few sockets of slack still catch one.
        sockets_settled = wait_until(lambda: open_sockets() <= sockets + 4, 3)
        gateway.drain()
        records = upstream.streams[streams_before:]
        ran_out = [r.prompt for r in records if r.finished]
        # A client that leaves before its request is read may never cost an upstream stream at all.
        lifetimes = sorted(r.ended - r.started for r in records if r.ended is not None) or [0.0]
        summary = (f"{count} hang-ups ({when}) in {elapsed:.1f} s: {len(records)} upstream streams, "
                   f"{len(ran_out)} ran to their end, median life {lifetimes[len(lifetimes) // 2] * 1000:.0f} ms, "
                   f"slowest {lifetimes[-1] * 1000:.0f} ms; sockets {sockets} -> {open_sockets()}, "
                   f"gateway loop tasks {tasks} -> {loop_tasks(gateway)}, upstream connections open "
                   f"{upstream.open_connections}, entries {entries} -> {_entries(gateway)}")
        print("\n" + summary)

        # The upstream request is closed when its client goes away: nobody pays for an answer nobody reads.
        assert not ran_out, f"upstream streams ran to their end for clients long gone: {summary}"
        assert lifetimes[-1] < 2.0, f"an upstream stream outlived its client: {summary}"
        assert wait_until(lambda: upstream.open_connections <= 1, 3), summary
        # Nothing leaked on the gateway, nothing partial was stored.
        assert tasks_settled and sockets_settled, summary
        assert _entries(gateway) == entries, summary
        upstream.chunk_delay = 0
        assert stream(gateway, "hang-up measured question 1-5", key="sk-hangup")[0] == "miss"
