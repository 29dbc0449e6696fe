"""Wire formats as pure functions: canonical keys, SSE, OpenAI shapes, cache-control headers."""
