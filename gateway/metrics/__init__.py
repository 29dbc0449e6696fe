"""Live metrics: one event per request to a sink (a Redis Stream or an in-process ring), and pure
aggregation of those events into the dashboard's and `/metrics`' figures."""
