"""Single-flight: identical concurrent misses make one upstream call that every one of them is answered from."""
