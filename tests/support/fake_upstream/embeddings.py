"""The fake's embeddings: a deterministic unit vector per text (a hash of it, so no paraphrase is near anything),
as floats or base64, in the dimensions asked for, with OpenAI's error for a request without input or model."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

from tests.support.fake_upstream.chat import words
from tests.support.fake_upstream.shapes import openai_error

DEFAULT_EMBEDDING_DIM = 1536


def fake_embedding(text: str, dimensions: int = DEFAULT_EMBEDDING_DIM) -> list[float]:
    """A deterministic (float32) unit vector derived from a hash of `text`: same text, same vector."""
    raw = hashlib.shake_256(text.encode("utf-8")).digest(2 * dimensions)
    values = [v / 32768.0 for v in struct.unpack(f"<{dimensions}h", raw)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    # Rounded to float32 so the "float" and "base64" encodings carry exactly the same numbers.
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in values))))


def answer_embeddings(request: Any) -> tuple[int, dict[str, Any]]:
    if not isinstance(request, dict) or "input" not in request or not isinstance(request.get("model"), str):
        missing = "model" if isinstance(request, dict) and "input" in request else "input"
        return 400, openai_error(
            f"Missing required parameter: '{missing}'.",
            "invalid_request_error",
            missing,
            "missing_required_parameter",
        )
    raw = request["input"]
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
        inputs = [raw]
    elif isinstance(raw, list) and raw:
        inputs = list(raw)
    else:
        return 400, openai_error("'input' must be a non-empty string or array.", "invalid_request_error", "input")
    texts = [t if isinstance(t, str) else " ".join(str(x) for x in t) for t in inputs]
    dims = int(request.get("dimensions") or DEFAULT_EMBEDDING_DIM)
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector = fake_embedding(text, dims)
        embedding: Any = vector
        if as_base64:
            embedding = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(words(t) for t in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return 200, {"object": "list", "data": data, "model": request["model"], "usage": usage}
