"""The request id that ties a request's response, access log line, metrics event, trace and upstream call together:
the client's `x-request-id` when it is a plausible id, else one made here.

The client's value reaches log lines, the metrics stream and the upstream, so only a short run of characters that
ids are made of is taken: no newline to forge a log line, no quote or space to break a field, no megabyte. Anything
else is replaced, not cleaned, so one id never names two different things. Only the first `x-request-id` counts.
An id that looks like a credential (a provider's `sk-` / `sk_` key prefix, or holding the key the request presents)
is replaced too: a client pasting its key there by mistake would otherwise see it written to every log line."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from gateway.wire.credentials import CREDENTIAL_HEADERS, bearer_token

HEADER = b"x-request-id"
UPSTREAM_HEADER = b"x-upstream-request-id"  # an upstream's own id (OpenAI's `req_...`), kept for its support desk
MAX_CHARS = 128
_ID = re.compile(rb"[A-Za-z0-9._:+/=@-]{1,%d}" % MAX_CHARS)  # UUIDs, ULIDs, `req_...`, base64, W3C trace ids
_KEY_PREFIXES = (b"sk-", b"sk_")  # OpenAI's and Anthropic's (`sk-ant-`) secret keys, Stripe-style `sk_live_`
MIN_KEY_CHARS = 8  # a presented credential shorter than this is no secret worth matching (and would refuse `a`)


def valid(value: bytes) -> str | None:
    return value.decode("ascii") if _ID.fullmatch(value) else None


def new_id() -> str:
    return os.urandom(16).hex()


def _secrets(name: bytes, value: bytes) -> list[bytes]:
    """What of a credential header must not turn up in an id: its value, and a bearer token on its own."""
    token = bearer_token(value.decode("latin-1")) if name == b"authorization" else None
    found = [value.strip(), *([token.encode("latin-1")] if token else [])]
    return [secret for secret in found if len(secret) >= MIN_KEY_CHARS]


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The id of a request with these (ASGI, lower-case) headers."""
    sent: bytes | None = None
    secrets: list[bytes] = []
    for name, value in headers:
        if name == HEADER and sent is None:
            sent = value
        elif name in CREDENTIAL_HEADERS:
            secrets.extend(_secrets(name, value))
    if sent is None or sent.lower().startswith(_KEY_PREFIXES) or any(secret in sent for secret in secrets):
        return new_id()
    return valid(sent) or new_id()


def with_request_id(headers: Iterable[tuple[bytes, bytes]], rid: str) -> tuple[list[tuple[bytes, bytes]], str | None]:
    """Response headers carrying `rid` as `x-request-id`: an upstream's own (a relayed answer) moves to
    `x-upstream-request-id`, so the client still has it. Also that upstream id, when it is a plausible one."""
    out: list[tuple[bytes, bytes]] = []
    upstream: str | None = None
    for name, value in headers:
        if name.lower() == HEADER:
            out.append((UPSTREAM_HEADER, value))
            upstream = upstream or valid(value)
        else:
            out.append((name, value))
    out.append((HEADER, rid.encode("ascii")))
    return out, upstream
