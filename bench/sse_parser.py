"""`python -m bench.sse_parser`: what the SSE parser costs on one huge event and on a stream of small ones.

A huge event arrives the way httpx hands it over, in 64 KiB reads; one over `MAX_EVENT_BYTES` is cut off there.
Before the parser resumed its search where the last one stopped, a 4 MB line cost 0.65 s and a 16 MB one 11 s."""

from __future__ import annotations

import time
import timeit

from gateway.wire import sse

READ = 64 << 10
CHUNK = (b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
         b'"choices":[{"index":0,"delta":{"content":" word"},"finish_reason":null}]}\n\n')


def huge(size: int) -> tuple[float, str]:
    stream = b"data: " + b"x" * size + b"\n\n"
    parser = sse.SSEParser()
    started = time.perf_counter()
    try:
        for start in range(0, len(stream), READ):
            parser.feed(stream[start:start + READ])
        outcome = "parsed"
    except sse.EventTooLong:
        outcome = "cut off at the limit"
    return time.perf_counter() - started, outcome


def main() -> None:
    for mib in (1, 4, 8, 16):
        seconds, outcome = huge((mib << 20) - 8)
        print(f"one {mib:>2} MiB event in {READ >> 10} KiB reads: {seconds * 1000:7.1f} ms ({outcome})")
    parser = sse.SSEParser()
    per_event = min(timeit.repeat(lambda: parser.feed(CHUNK), number=100_000, repeat=5)) / 100_000
    print(f"a {len(CHUNK)}-byte chat chunk per read: {per_event * 1e6:.2f} µs an event")


if __name__ == "__main__":
    main()
