"""The test process trusts its certificate authorities through OpenSSL's hashed directory, not a bundle file.

Every httpx client builds an SSL context: the tests' SDK clients, `httpx.get` and the in-process gateways' own
upstream clients (four a start). From a bundle file (certifi's, or SSL_CERT_FILE) that parses ~150 certificates,
30-200 ms a client on a busy machine: half the CPU of a typical integration test file. From a hashed directory
OpenSSL reads a certificate only when a handshake needs it. The trust is the same: only a bundle kept in that very
directory (the one `update-ca-certificates` writes beside the hashed links) is swapped for it. The tests' own TLS
servers are trusted through SSL_CERT_FILE, set by those tests, which wins over the directory again."""

from __future__ import annotations

import os
import ssl
from pathlib import Path


def trust_ca_directory() -> None:
    directory = Path(ssl.get_default_verify_paths().capath or "/nonexistent")
    bundle = os.environ.get("SSL_CERT_FILE")
    if not directory.is_dir() or next(directory.glob("*.0"), None) is None:
        return
    if bundle is not None and Path(bundle).resolve().parent != directory.resolve():
        return  # a bundle of its own: it may trust what the directory does not
    os.environ.pop("SSL_CERT_FILE", None)
    os.environ["SSL_CERT_DIR"] = str(directory)
