"""Canonical request hashing: what must be equal for two requests to share a cached answer.

Every field of a chat request is part of the scope except the few listed in `NEUTRAL_FIELDS`, so a field
OpenAI adds tomorrow partitions the cache instead of letting a different request hit."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

import orjson

from gateway.errors import InvalidRequest, Uncacheable
from gateway.language import LANGUAGES, language_of
from gateway.wire.answers import AnswerShape
from gateway.wire.completion import CHAT_ANSWERS

# Fields that do not change which answer is right for a request. Sampling parameters are here because a
# cached answer is one valid sample; `n` is handled separately (n > 1 bypasses the cache).
# The penalties are not: at their extremes they make a model write degenerate text, which a caller could then have
# served to everyone asking the plain question on a shared route.
NEUTRAL_FIELDS = frozenset({
    "messages", "model", "stream", "stream_options", "user", "metadata", "store", "service_tier",
    "temperature", "top_p", "seed", "n", "prompt_cache_key", "safety_identifier",
})
# Of an embeddings request, only these are neutral: compatible APIs honour more fields than OpenAI's
# (`input_type`, `truncate_prompt_tokens`, `normalize`...), and each may change the vectors.
NEUTRAL_EMBEDDING_FIELDS = frozenset({"user"})

SHARED_TENANT = "shared"
# Past this, a final message is matched by the exact layer only. The embedder reads ~1,300 characters and the
# verifier requires everything past 2,048 to be the same text anyway; a longer prompt stored for comparison would
# cost every write and lookup its size, which one caller could push to `MAX_BODY_BYTES` on every request.
MAX_SEMANTIC_PROMPT_CHARS = 32_768
ENTRY_ID = re.compile(r"[0-9a-f]{32}")  # an entry's id, `exact` below: what clients may name an entry by
SHARD_CHARS = 4  # an entry's id starts with this many characters of its scope's `shard_of`


@dataclass(frozen=True)
class RequestKey:
    """The identity of a request in the cache."""

    model: str
    route: str
    tenant: str
    context: str  # digest of everything in scope except the final user turn's text
    exact: str  # digest of the whole scope: the exact layer's key
    prompt: str | None  # the final user message's text; None when only the exact layer is safe
    answers: AnswerShape = CHAT_ANSWERS  # the shape of the answers it is served
    # digest of the scope and every turn before the last (the assistant's without their text), whatever the last
    # asks or in which language: what a conversation's next turns are learnt under (prefetch), known before that
    # turn is
    conversation: str = ""


def digest(*parts: bytes) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    for part in parts:
        hasher.update(len(part).to_bytes(8, "little"))
        hasher.update(part)
    return hasher.hexdigest()


def shard_of(context: str) -> str:
    """What every entry id of a scope starts with: a Redis Cluster finds the slot of an entry from its id alone
    (an exact lookup knows nothing else), and keeps a scope's entries and its vector set in that one slot."""
    return hashlib.blake2b(context.encode(), digest_size=SHARD_CHARS // 2).hexdigest()


def _exact(context: str, *parts: bytes) -> str:
    return shard_of(context) + digest(*parts)[SHARD_CHARS:]


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # nested deeper than orjson's 254 levels: no real request is
        raise InvalidRequest("The request is nested too deeply.", code="too_deeply_nested") from None


def tenant_digest(api_key: str | None) -> str:
    """A one-way digest of an API key: what the cache stores instead of the key."""
    return digest(b"tenant", (api_key or "").encode())[:24]


def _text_of(content: Any) -> str | None:
    """The text of a message content, or None when it holds anything but text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        for part in content
    ):
        return "".join(part["text"] for part in content)
    return None


def _normal_message(message: dict[str, Any]) -> dict[str, Any]:
    """Spellings that mean the same to the model (text parts vs a string, null vs absent) hash alike."""
    normal = {name: value for name, value in message.items() if value is not None}
    text = _text_of(normal.get("content"))
    if text is not None:
        normal["content"] = text
    return normal


def chat_key(body: dict[str, Any], *, model: str, route: str, tenant: str) -> RequestKey:
    """Key a validated chat request. Raises `Uncacheable` for requests the cache must not serve."""
    choices = body.get("n")
    if choices is not None and choices != 1:
        raise Uncacheable("n > 1")
    if "audio" in (body.get("modalities") or ()):
        raise Uncacheable("audio output")
    messages = [_normal_message(message) for message in body["messages"]]
    params = {name: value for name, value in body.items() if name not in NEUTRAL_FIELDS and value is not None}
    final = messages[-1]
    prompt = final.get("content") if final.get("role") == "user" and not set(final) - {"role", "content"} else None
    return request_key(CHAT_ANSWERS, model=model, route=route, tenant=tenant, params=params, turns=messages,
                       prompt=prompt)


def request_key(answers: AnswerShape, *, model: str, route: str, tenant: str, params: dict[str, Any], turns: list[Any],
                prompt: Any) -> RequestKey:
    """Key a request of one API, whose `answers` have its shape (two APIs never share an answer):
    `params` are its fields in scope, `turns` its conversation, whose last turn asks `prompt`, the text the semantic
    layer compares (anything but a non-blank string of at most `MAX_SEMANTIC_PROMPT_CHARS`: only the exact layer)."""
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_SEMANTIC_PROMPT_CHARS:
        prompt = None  # images, audio, names, a blank, a non-user final turn or a huge one: only an exact repeat
    # An answer is right only in the asker's language: the prompt's is part of the semantic scope. A prompt whose
    # language cannot be told (no function word of any language read, or two nearly as likely), or one the hit
    # verifier has no rules for (Chinese, Japanese: the embedder reads most of their characters as one [UNK]), is
    # matched only as an exact repeat.
    language = language_of(prompt) if prompt is not None else None
    if language not in LANGUAGES:
        prompt = language = None
    scope = (answers.kind.encode(), model.encode(), route.encode(), tenant.encode())
    dumped = _dumps(params)
    head = _dumps(turns[:-1] if prompt is not None else turns)
    context = digest(*scope, dumped, head, *((b"language", language.encode()) if language else ()))
    exact = _exact(context, context.encode(), _dumps(turns[-1]) if prompt is not None else b"")
    conversation = digest(b"conversation", *scope, dumped, _dumps([_asked(turn) for turn in turns[:-1]]))
    return RequestKey(model=model, route=route, tenant=tenant, context=context, exact=exact, prompt=prompt,
                      answers=answers, conversation=conversation)


def _asked(turn: Any) -> Any:
    """A turn as prefetch learns what follows it: an assistant's turn without what it said. An upstream words an
    answer anew each time it is asked (after each expiry, each refresh), and the next questions users ask after it
    are the same whatever the wording; keyed on the wording, nothing learnt would outlive the answer it followed."""
    if isinstance(turn, dict) and turn.get("role") == "assistant":
        return {"role": "assistant"}
    return turn


def answered_by(key: RequestKey, provider: str) -> RequestKey:
    """`key` within the answers of one provider of the routing table: the same model name at two providers (or at
    one, after the table changed) is two models, whose answers are never served for each other."""
    context = digest(key.context.encode(), b"provider", provider.encode())
    exact = _exact(context, key.exact.encode(), b"provider", provider.encode())
    conversation = digest(key.conversation.encode(), b"provider", provider.encode())
    return replace(key, context=context, exact=exact, conversation=conversation)


def embedding_keys(body: dict[str, Any], inputs: list[Any], *, tenant: str, provider: str | None = None) -> list[str]:
    """Exact key of each input's vector: the input itself and every other field but the neutral ones (an absent
    encoding is "float"), so a vector is found again whichever batch it came in."""
    fields = {name: value for name, value in body.items()
              if name not in NEUTRAL_EMBEDDING_FIELDS and name != "input" and value is not None}
    fields.setdefault("encoding_format", "float")
    routed = (b"provider", provider.encode()) if provider else ()  # a provider of the routing table: its own vectors
    request = digest(b"embeddings", tenant.encode(), _dumps(fields), *routed).encode()
    return [digest(request, _dumps(item)) for item in inputs]
