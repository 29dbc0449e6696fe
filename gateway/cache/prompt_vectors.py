"""What the embedder makes of a prompt: its vector, remembered for recent prompts so a repeat skips the model,
and how much of the prompt that vector reflects. An embedder reads a prompt's beginning only (the local model
its first 256 word pieces: ~1,300 characters of prose, far fewer of dense text), so two prompts that differ only
past that have the same vector; they ask the same only if everything the embedder did not read is the same text.
Which embedder reads a prompt may depend on its language (`Embedder.reader`)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from gateway.embedding.base import Embedder
from gateway.guard import OutageGuard

RECENT = 4096  # prompts whose vector (~1.5 kB at 384-d) and reach are kept per worker


def _digest(text: str) -> bytes:
    # A prompt may be tens of kilobytes: the recent ones are remembered by digest, not kept whole as keys.
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class PromptVectors:
    def __init__(self, embedder: Embedder, guard: OutageGuard) -> None:
        self.embedder = embedder
        self.guard = guard
        self._vectors: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._reach: OrderedDict[bytes, int] = OrderedDict()

    async def vector(self, text: str, api_key: str | None) -> np.ndarray:
        """Raises CacheUnavailable when the embedder fails."""
        digest = _digest(text)
        vector = self._vectors.get(digest)
        if vector is not None:
            self._vectors.move_to_end(digest)
            return vector
        vector = await self.guard.call(lambda: self.embedder.embed(text, api_key=api_key))
        _remember(self._vectors, digest, vector)
        return vector

    def reader(self, text: str) -> Embedder:
        """The embedder that makes `text`'s vector (one per language, maybe): its distances are on its scale."""
        return self.embedder.reader(text)

    def _read(self, text: str, reader: Embedder | None = None) -> int:
        """How many leading characters of `text` its vector (`reader`'s, when known) reflects."""
        reader = reader or self.reader(text)
        if len(text) <= reader.surely_read:
            return len(text)
        digest = _digest(text)
        reach = self._reach.get(digest)
        if reach is None:
            try:
                reach = reader.read_chars(text)
            except Exception:  # a tokenizer failure: then every character must match, which is safe
                reach = 0
            _remember(self._reach, digest, reach)
        return reach

    def differ_unread(self, query: str, cached: str) -> bool:
        """Whether the two prompts differ anywhere their vectors did not read: the unread tail of each must be
        the same text at the end of the other. Both are of one scope, so one language: one reader read both."""
        reader = self.reader(query)
        unread = max(len(query) - self._read(query, reader), len(cached) - self._read(cached, reader))
        return unread > 0 and (unread > min(len(query), len(cached)) or query[-unread:] != cached[-unread:])


def _remember(table: OrderedDict[bytes, object], digest: bytes, value: object) -> None:
    table[digest] = value
    if len(table) > RECENT:
        table.popitem(last=False)
