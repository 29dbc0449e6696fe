"""`latency-slayer warm`: fill a gateway's cache from a file of requests, through the gateway itself."""
