"""`latency-slayer demo`: the gateway in front of a simulated model, a replayed workload, its summary."""
