"""Tests of the pure parts: wire formats, the verifier's rules, settings, the metrics' figures, the stores',
flights' and embedder's logic in process. They start no server and open no socket (two run a short Python
subprocess: an import check, and a crash kept out of the run)."""
