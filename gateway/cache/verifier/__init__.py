"""The hit verifier: a semantic candidate is served only when its cached prompt asks what the query asks
(`rules`: lexical rules and a fitted score; the rest: how a prompt is read, and the lexicons)."""

from gateway.cache.verifier.rules import HitVerifier, difference

__all__ = ["HitVerifier", "difference"]
