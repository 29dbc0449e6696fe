"""Which API a path speaks, for what the gateway itself says and sends on it: Anthropic's on `/v1/messages` and
every path below it (its token count, batches): errors in Anthropic's shape, the gateway's own key sent as
`x-api-key`, `ANTHROPIC_API_KEY`; OpenAI's on every other path: errors in OpenAI's shape, the key as a bearer
token, `OPENAI_API_KEY`."""

from __future__ import annotations

from gateway.settings import Settings
from gateway.wire.anthropic_errors import ANTHROPIC_ERRORS
from gateway.wire.errors import OPENAI_ERRORS, ErrorShape


def speaks_anthropic(path: str) -> bool:
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def errors_for(path: str) -> ErrorShape:
    return ANTHROPIC_ERRORS if speaks_anthropic(path) else OPENAI_ERRORS


def server_key(path: str, settings: Settings) -> str | None:
    """The server's own upstream key for a request to `path`."""
    return settings.anthropic_api_key if speaks_anthropic(path) else settings.openai_api_key


def key_header(path: str, key: str) -> tuple[bytes, bytes]:
    """A key the gateway supplies, as the upstream of `path` reads it."""
    if speaks_anthropic(path):
        return b"x-api-key", key.encode()
    return b"authorization", f"Bearer {key}".encode()
