"""Thousands of malformed requests against the served gateway (Redis-backed, as deployed): random JSON, every
field of a chat or embeddings request given the wrong type, huge, empty, deeply nested or invalid UTF-8 bodies,
garbage control headers, framing that lies about its length, odd methods and paths.

Every answer must be a 4xx in OpenAI's error shape (or a legitimate pass-through of what the fake upstream said),
never a 500; a rejected request must not touch the cache; and a known cached answer must still be served,
unchanged, at the end (the `fuzzed` fixture, conftest.py). Examples are bounded (`max_examples`) so the folder
runs in about a minute."""
