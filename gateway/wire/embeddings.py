"""The embeddings wire format, input by input: a request's inputs (one text, one token array, or a list of
either), the request for the inputs the cache does not hold, an answer taken apart into one stored vector per
input, and the answer to the client put back together in the order it asked. Pure functions: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.wire.controls import Controls, parse_controls
from gateway.wire.json_body import forwardable, parse_json_object
from gateway.wire.requests import validate_embeddings


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(token, int) and not isinstance(token, bool) for token in value)


# OpenAI's limit of inputs per request: a longer list is refused upstream, and looking up each of its inputs
# would cost the store a round trip as large as the list.
MAX_INPUTS = 2048
# Fields of compatible APIs that make each vector depend on the whole batch (Jina's late chunking): such a
# request is never answered input by input.
BATCH_DEPENDENT = frozenset({"late_chunking"})


def inputs_of(value: Any) -> list[Any] | None:
    """The inputs one by one, each a text or a token array; None for what the API would refuse (an empty, mixed
    or over-long list), which goes upstream as it came, for the upstream to say what is wrong."""
    if isinstance(value, str) or _is_tokens(value):
        return [value]
    if isinstance(value, list) and 0 < len(value) <= MAX_INPUTS and (
            all(isinstance(item, str) for item in value) or all(_is_tokens(item) for item in value)):
        return list(value)
    return None


@dataclass(slots=True)
class EmbeddingsRequest:
    body: dict[str, Any]  # as read: what goes upstream when no input is cached
    controls: Controls
    model: str
    inputs: list[Any] | None

    @property
    def base64(self) -> bool:
        return self.body.get("encoding_format") == "base64"

    def upstream_body(self, missing: list[int]) -> bytes:
        """The request for the inputs at `missing` (all of them: the request as read)."""
        if self.inputs is None or len(missing) == len(self.inputs):
            return forwardable(self.body)
        return forwardable({**self.body, "input": [self.inputs[index] for index in missing]})


def read_embeddings(raw: bytes, headers: Mapping[str, str]) -> EmbeddingsRequest:
    """Raises InvalidRequest, in OpenAI's wording, for a body or a cache header the gateway cannot use."""
    body = parse_json_object(raw)
    validate_embeddings(body)
    together = any(body.get(name) for name in BATCH_DEPENDENT)
    return EmbeddingsRequest(body, parse_controls(headers), body["model"],
                             None if together else inputs_of(body["input"]))


@dataclass(frozen=True)
class Vector:
    """One input's vector as stored: as the upstream encoded it, its share of the tokens, and the model it named."""

    embedding: Any
    tokens: int
    model: str

    def dumps(self) -> bytes:
        return orjson.dumps({"embedding": self.embedding, "tokens": self.tokens, "model": self.model})

    @classmethod
    def loads(cls, raw: bytes) -> Vector | None:
        try:
            value = orjson.loads(raw)
            return cls(value["embedding"], int(value["tokens"]), str(value["model"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


def _shares(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, in whole numbers that add up to it exactly (largest remainder)."""
    weights = [max(1, weight) for weight in weights]
    exact = [total * weight / sum(weights) for weight in weights]
    shares = [int(part) for part in exact]
    for index in sorted(range(len(exact)), key=lambda i: shares[i] - exact[i])[:total - sum(shares)]:
        shares[index] += 1
    return shares


def _is_vector(value: Any, *, base64: bool) -> bool:
    if base64:
        return isinstance(value, str) and bool(value)
    return isinstance(value, list) and bool(value) and all(
        isinstance(number, (int, float)) and not isinstance(number, bool) for number in value)


def vectors_of(payload: bytes, inputs: list[Any], *, base64: bool) -> list[Vector] | None:
    """The answer to `inputs`, one Vector each, in their order; None unless it is a whole, well-formed answer:
    one vector per input, each in the encoding asked for (`base64`: a string, else a list of numbers), all of
    one length, so nothing malformed is ever stored or served.
    The upstream counts tokens per request only: each input is given a share by its length, so what the inputs
    of one request are said to cost adds up to what that request cost."""
    try:
        answer = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or len(data) != len(inputs):
        return None
    by_index = {item.get("index"): item for item in data
                if isinstance(item, dict) and isinstance(item.get("index"), int) and not isinstance(
                    item.get("index"), bool)}
    if set(by_index) != set(range(len(inputs))):
        return None
    embeddings = [by_index[index].get("embedding") for index in range(len(inputs))]
    if not all(_is_vector(embedding, base64=base64) for embedding in embeddings) or len(
            {len(embedding) for embedding in embeddings}) != 1:
        return None
    usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
    total = usage.get("prompt_tokens")
    total = total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else 0
    model = answer.get("model") if isinstance(answer.get("model"), str) else ""
    shares = _shares(total, [len(item) for item in inputs])
    return [Vector(embedding, share, model) for embedding, share in zip(embeddings, shares, strict=True)]


def merged(vectors: list[Vector]) -> bytes:
    """The answer to a whole request, from one vector per input in the order asked."""
    tokens = sum(vector.tokens for vector in vectors)
    model = next((vector.model for vector in reversed(vectors) if vector.model), "")
    return orjson.dumps({
        "object": "list",
        "data": [{"object": "embedding", "index": index, "embedding": vector.embedding}
                 for index, vector in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })
