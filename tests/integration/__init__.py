"""Tests against real servers: Redis 8, the fake upstream, a served gateway, subprocesses, a browser."""
