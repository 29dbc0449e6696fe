"""Live metrics: one event per request to a sink (a Redis Stream or an in-process ring), read back into each
window's running tally, from which the dashboard's and `/metrics`' figures come at a cost that does not grow
with the events."""
