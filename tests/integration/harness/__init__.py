"""Tests of the test harness itself: the fake OpenAI upstream (tests/support/fake_upstream/) and the Redis 8
launcher (tests/support/redis_server.py)."""
