"""Latency Slayer: an OpenAI-compatible gateway that caches LLM answers semantically."""

__version__ = "0.1.0"
