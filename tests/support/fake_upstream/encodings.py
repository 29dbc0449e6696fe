"""Bodies in a Content-Encoding, for the fake's `encode_next`: those the gateway decodes, any other, and corrupt."""

from __future__ import annotations

import gzip
import zlib

import brotli
import zstandard


def encode_body(payload: bytes, encoding: str, *, corrupt: bool = False) -> bytes:
    """`payload` in `encoding`: gzip, deflate, br, zstd, or any other name for the bytes reversed (a stand-in
    for a coding nobody here decodes). A corrupt body keeps its first ten bytes (gzip's header), the rest
    overwritten: gzip and zstd then fail to decode (br and deflate may decode it to garbage)."""
    if encoding == "gzip":
        encoded = gzip.compress(payload)
    elif encoding == "deflate":
        encoded = zlib.compress(payload)
    elif encoding == "br":
        encoded = brotli.compress(payload)
    elif encoding == "zstd":
        encoded = zstandard.ZstdCompressor().compress(payload)
    else:
        encoded = payload[::-1]
    return encoded[:10] + b"\xff" * (len(encoded) - 10) if corrupt else encoded
