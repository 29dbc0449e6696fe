"""The credentials a client presents, and the tenant they name. Every form a client can send (`Authorization`
with any scheme, Azure's `api-key`, Anthropic's `x-api-key`) names a tenant of its own, so callers who spell their
credential differently are never served each other's answers; callers with no credential at all share one tenant,
`ANONYMOUS`, which no credentialed caller ever lands in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from gateway.wire.canonical import digest, tenant_digest

# Header names as they arrive (lowercase: ASGI servers lowercase them) that carry a credential upstream.
CREDENTIAL_HEADERS = (b"authorization", b"api-key", b"x-api-key")
ANONYMOUS = "anonymous"  # the tenant of every caller without a credential; never a digest's 24 hex digits


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Bearer <token>` (scheme in any case, then spaces), else None: a tab, another scheme or an
    empty token is no bearer token."""
    if not authorization or authorization[:7].lower() != "bearer ":
        return None
    return authorization[7:].strip(" ") or None


@dataclass(frozen=True)
class Credentials:
    """The non-empty credential headers of a request, as (name, value) pairs in a fixed order."""

    presented: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str | None:
        """The one API key presented: a bearer token, an `api-key` or an `x-api-key`, every form carrying the
        same key. None when there is none, another scheme, or two different keys."""
        keys = {bearer_token(value) if name == "authorization" else value for name, value in self.presented}
        if len(keys) != 1:
            return None
        return keys.pop()

    def tenant(self) -> str:
        """One API key names the same tenant however it is sent (and as it always did: `tenant_digest`); any
        other credential names one of its own, digested with its header name and exact value."""
        return _tenant_of(self.presented)


@lru_cache(maxsize=4096)  # a deployment's callers are few, and a digest costs more than the lookup
def _tenant_of(presented: tuple[tuple[str, str], ...]) -> str:
    if not presented:
        return ANONYMOUS
    key = Credentials(presented).key
    if key is not None:
        return tenant_digest(key)
    return digest(b"credential", *(part.encode("latin-1") for pair in presented for part in pair))[:24]


def credentials_of(headers: Iterable[tuple[bytes, bytes]]) -> Credentials:
    """What the client presented; an empty or blank credential (`Authorization: Bearer `) counts as none."""
    found = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in CREDENTIAL_HEADERS:
            text = value.decode("latin-1")
            if text.strip() and (lowered != b"authorization" or text.strip().lower() != "bearer"):
                found.append((lowered.decode("latin-1"), text))
    return Credentials(tuple(sorted(found)))


def without_credentials(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in headers if name.lower() not in CREDENTIAL_HEADERS]
