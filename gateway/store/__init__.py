"""Cache stores: one interface, a Redis 8 and an in-process implementation."""
