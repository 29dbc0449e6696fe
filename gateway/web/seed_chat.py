"""`POST /chat`: the original design's interface (`gateway.wire.seed_chat`), a thin alias over the chat path:
the same cache, scope, controls, single-flight and events; its answer written back in the interface's shape.
Errors keep OpenAI's shape; an answer too big to hold (`MAX_ENTRY_BYTES`) is relayed as the chat completion."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.web.cached_call import answer
from gateway.web.request_parts import gateway_of, read_body
from gateway.web.responses import JSONResponse
from gateway.web.trace import trace_of
from gateway.wire.json_body import parse_json_object
from gateway.wire.seed_chat import read_seed_chat, seed_answer

CACHE_HEADERS = ("x-cache", "x-cache-layer", "x-cache-distance", "x-cache-key")


async def seed_chat(request: Request) -> Response:
    trace = trace_of(request, "chat")
    gateway = gateway_of(request)
    body = parse_json_object(await read_body(request))
    chat = read_seed_chat(body, request.headers, default_model=gateway.settings.gen_model)
    answered = await answer(request, gateway, chat, trace, upstream=gateway.upstreams.for_model("openai", chat.model))
    if answered.status_code != 200 or isinstance(answered, StreamingResponse):  # an error, or relayed as it came
        return answered
    completion = orjson.loads(answered.body)
    if not isinstance(completion, dict):
        return answered
    headers = {name: answered.headers[name] for name in CACHE_HEADERS if name in answered.headers}
    return JSONResponse(seed_answer(completion, route=chat.controls.route, state=headers.get("x-cache"),
                                    layer=headers.get("x-cache-layer"), distance=headers.get("x-cache-distance")),
                        headers=headers)
