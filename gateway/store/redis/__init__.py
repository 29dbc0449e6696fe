"""The Redis 8 adapters: the two cache stores (Query Engine, vector sets), their shared entries, and single-flight
across workers. Everything that speaks Redis to the cache lives here (the metrics sink has its own)."""
