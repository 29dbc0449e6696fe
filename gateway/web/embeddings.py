"""`POST /v1/embeddings`: each input's vector cached on its own (every field but `user` keyed), so a batch whose
inputs were all seen is answered without going upstream (`x-cache: hit`), and one with some new inputs sends only
those upstream and is answered with every vector in the order asked (`x-cache: partial`). An answer is held whole
(to store its vectors, or to put it together) only within `MAX_MERGED_BYTES`; a bigger one is relayed as it comes.
One metrics event each."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import UpstreamProtocolError
from gateway.upstream import UpstreamResponse
from gateway.upstreams import Upstream
from gateway.web.request_parts import asker, cache_headers, forwarded_headers, gateway_of, read_body
from gateway.web.responses import JSONResponse, RelayedResponse, RelayedStream
from gateway.web.trace import trace_of
from gateway.wire.canonical import embedding_keys
from gateway.wire.embeddings import EmbeddingsRequest, Vector, merged, read_embeddings, vectors_of


async def embeddings(request: Request) -> Response:
    trace = trace_of(request, "embeddings")
    gateway = gateway_of(request)
    batch = read_embeddings(await read_body(request), request.headers)
    trace.model, trace.route = batch.model, batch.controls.route
    inputs = batch.inputs
    upstream = gateway.upstreams.for_model("openai", batch.model)
    who = asker(request, upstream, batch.controls.route)
    keys = (embedding_keys(batch.body, inputs, tenant=who.scope, provider=who.provider)
            if inputs else None)
    limit = gateway.settings.max_merged_bytes
    recall = await gateway.policy.recall(keys, batch.controls, limit=limit)
    cached = [Vector.loads(part) if part is not None else None for part in recall.parts]
    missing = [index for index, vector in enumerate(cached) if vector is None]
    if inputs and not missing:
        vectors = [vector for vector in cached if vector is not None]
        trace.hit("exact", {"prompt_tokens": sum(vector.tokens for vector in vectors)})
        return JSONResponse(merged(vectors), headers=cache_headers("hit", layer="exact"))
    trace.outcome = recall.state
    trace.upstream_sent()
    sent = await _send(request, upstream, batch, missing)
    if inputs and len(missing) < len(inputs) and sent.status == 400:
        # Its error names positions in the list of inputs sent: the client is told of its own list.
        await sent.close()
        missing = list(range(len(inputs)))
        sent = await _send(request, upstream, batch, missing)
    payload, rest = await sent.read_within(limit)
    whole = inputs is None or len(missing) == len(inputs)
    if rest is not None:
        if whole:  # too big to hold: relayed as it comes, never parsed on the event loop
            trace.outcome = "bypass"
            return RelayedStream.overflowing(sent, payload, rest, cache_headers("bypass"))
        await sent.close()
        raise UpstreamProtocolError("The upstream's answer for the inputs not cached is larger than MAX_MERGED_BYTES.")
    trace.upstream_done()
    if sent.status != 200 or inputs is None:
        return RelayedResponse(sent, payload, cache_headers(recall.state))  # errors pass through, never stored
    fresh = vectors_of(payload, [inputs[index] for index in missing], base64=batch.base64)
    trace.usage({"prompt_tokens": sum(vector.tokens for vector in fresh)} if fresh else None)
    if fresh is None:
        if whole:
            return RelayedResponse(sent, payload, cache_headers(recall.state))
        raise UpstreamProtocolError("The upstream's answer for the inputs not cached is not a list of their "
                                    "embeddings.")
    if keys is not None and recall.state == "miss":
        gateway.policy.keep([(keys[index], vector.dumps()) for index, vector in zip(missing, fresh, strict=True)],
                            batch.controls)
    if whole:
        return RelayedResponse(sent, payload, cache_headers(recall.state))
    answered = dict(zip(missing, fresh, strict=True))
    vectors = [vector if vector is not None else answered[index] for index, vector in enumerate(cached)]
    return JSONResponse(merged(vectors), headers=cache_headers("partial", layer="exact"))


async def _send(request: Request, upstream: Upstream, batch: EmbeddingsRequest,
                missing: list[int]) -> UpstreamResponse:
    return await upstream.client.send("POST", "/embeddings", headers=forwarded_headers(request, upstream),
                                      content=batch.upstream_body(missing))

