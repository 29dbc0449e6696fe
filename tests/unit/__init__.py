"""Tests of the pure parts: wire formats, the verifier's rules, settings, the metrics' figures, the stores',
flights' and embedder's logic in process. They start no server and open no socket (three run a short Python
subprocess: an import check and two crashes kept out of the run; the layering test asks git for the tracked files)."""
