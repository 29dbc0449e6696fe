"""One embedder for the prompts of some languages, another for the rest: the shipped local model reads English
only, so German, French, Spanish, Portuguese, Italian and Dutch paraphrases mostly lie beyond its thresholds.

The language is the one `gateway.language.language_of` detects, as the request key does: it is part of the
semantic scope, so a scope's vectors all come from one embedder and are never compared with the other's."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import numpy as np

from gateway.embedding.base import Embedder
from gateway.language import READ_CHARS, language_of

RECENT = 64  # prompts whose reader is remembered, by the start `language_of` reads (READ_CHARS)


class ByLanguage:
    """`Embedder` that hands each text to `special` when it is in one of `languages`, else to `default`."""

    def __init__(self, default: Embedder, special: Embedder, languages: frozenset[str]) -> None:
        if special.dim != default.dim:  # one index holds both
            raise ValueError(f"{special.name} makes {special.dim}-d vectors, {default.name} {default.dim}-d")
        self.default, self.special, self.languages = default, special, languages
        self.dim = default.dim
        # Recorded with the index: turning the language embedder on or off is a change of embedder.
        self.name = f"{default.name}+{special.name}:{','.join(sorted(languages))}"
        self.surely_read = min(default.surely_read, special.surely_read)
        self.distance_scale = default.distance_scale
        # One lookup asks for a prompt's reader once per candidate too: telling a long prompt's language takes
        # ~0.2 ms, remembering it for the last few prompts ~1 µs.
        self._reads_special = functools.lru_cache(maxsize=RECENT)(self._in_languages)

    def _in_languages(self, text: str) -> bool:
        return language_of(text) in self.languages

    def reader(self, text: str) -> Embedder:
        return self.special if self._reads_special(text[:READ_CHARS]) else self.default

    def read_chars(self, text: str) -> int:
        return self.reader(text).read_chars(text)

    async def embed(self, text: str, *, api_key: str | None = None) -> np.ndarray:
        return await self.reader(text).embed(text, api_key=api_key)

    async def close(self) -> None:
        await asyncio.gather(self.default.close(), self.special.close())

    def health(self) -> dict[str, Any]:
        return {**self.default.health(), "name": self.name,
                "languages": {",".join(sorted(self.languages)): self.special.health()}}
