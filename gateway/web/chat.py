"""`POST /v1/chat/completions`: read the request as a chat completion and answer it through the cache
(`gateway.web.cached_call`), a conversation whose likely next question prefetch may ask ahead."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.web.cached_call import answer
from gateway.web.request_parts import gateway_of, read_body
from gateway.web.trace import trace_of
from gateway.wire.chat import read_chat


async def chat_completions(request: Request) -> Response:
    trace = trace_of(request, "chat")
    gateway = gateway_of(request)
    chat = read_chat(await read_body(request), request.headers, default_model=gateway.settings.gen_model)
    return await answer(request, gateway, chat, trace, upstream=gateway.upstreams.for_model("openai", chat.model),
                        conversation=chat)
