"""Do two answers say the same thing? Used by shadow checks, which compare a cached answer with a fresh one
from upstream to learn whether a route's semantic hits are right."""

from __future__ import annotations

import numpy as np

from gateway.embedding.base import Embedder
from gateway.wire.answers import Reply

SAME_MEANING = 0.85  # cosine similarity of the two answers' embeddings above which they agree (local model's scale)


async def answers_agree(cached: Reply, fresh: Reply, embedder: Embedder) -> bool:
    """Tool calls must match exactly (names and parsed arguments); texts must mean the same."""
    if cached.calls or fresh.calls:
        return cached.calls == fresh.calls
    old_text, new_text = cached.text.strip(), fresh.text.strip()
    if old_text == new_text:
        return True
    if not old_text or not new_text:
        return False
    reader = embedder.reader(old_text)  # one model for both, whatever language each is detected in
    first, second = await reader.embed(old_text), await reader.embed(new_text)
    return (1.0 - float(np.dot(first, second))) * reader.distance_scale <= 1.0 - SAME_MEANING
