"""`GET /v1/models` across several upstreams: each one's list read, and their union in OpenAI's shape (an
Anthropic list's models written as OpenAI model objects, owned by the provider that serves them). Pure."""

from __future__ import annotations

from typing import Any

import orjson


def models_in(body: bytes, *, owner: str) -> list[dict[str, Any]]:
    """The model objects an upstream's list holds (OpenAI's shape, or Anthropic's); none for anything else."""
    try:
        listing = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    data = listing.get("data") if isinstance(listing, dict) else None
    models = []
    for model in data if isinstance(data, list) else ():
        if not isinstance(model, dict) or not isinstance(model.get("id"), str):
            continue
        if model.get("object") != "model":  # Anthropic's: {"type": "model", "id", "display_name", "created_at"}
            model = {"id": model["id"], "object": "model", "created": 0, "owned_by": owner}
        models.append(model)
    return models


def union(listings: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """One list of every model, each once (the first upstream to list it, as requests are routed)."""
    seen: dict[str, dict[str, Any]] = {}
    for models in listings:
        for model in models:
            seen.setdefault(model["id"], model)
    return {"object": "list", "data": list(seen.values())}
