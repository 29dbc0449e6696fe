"""The web app: routes, middleware and the error boundary, around a Gateway that the caller builds (in
`gateway.assembly`, the one place that picks concrete classes) when the app starts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from gateway.settings import Settings
from gateway.web.access import GatewayKeys
from gateway.web.access_log import AccessLog
from gateway.web.admin import admin_routes
from gateway.web.browsers import BrowserGuard
from gateway.web.chat import chat_completions
from gateway.web.dashboard import dashboard_routes
from gateway.web.embeddings import embeddings
from gateway.web.error_responses import HANDLERS
from gateway.web.feedback import cache_feedback
from gateway.web.framing import SingleFraming
from gateway.web.health import healthz
from gateway.web.messages import count_tokens, messages, other_messages_path
from gateway.web.models import list_models, retrieve_model
from gateway.web.passthrough import passthrough
from gateway.web.probes import Readiness, livez, readyz
from gateway.web.responses_api import create_response, delete_response, list_input_items, retrieve_response
from gateway.web.seed_chat import seed_chat
from gateway.web.services import Gateway
from gateway.web.text_completions import text_completions
from gateway.web.trace import Observed
from gateway.web.tracing import Traced

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def make_app(settings: Settings, build: Callable[[Settings], Awaitable[Gateway]]) -> Starlette:
    """The app; `build` makes its Gateway in the worker that serves it (each worker has its own clients)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway = await build(settings)
        app.state.gateway = gateway
        try:
            yield
        finally:
            await gateway.close()

    routes = [
        # The cached APIs first: every route tried before one costs each of its hits a regex match.
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/responses", create_response, methods=["POST"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/completions", text_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/responses/{response_id}", retrieve_response, methods=["GET"]),
        Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
        Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
        Route("/v1/cache/feedback", cache_feedback, methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        Route("/v1/messages/{rest:path}", other_messages_path, methods=ALL_METHODS),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
        Route("/v1/{path:path}", passthrough, methods=ALL_METHODS),
        Route("/chat", seed_chat, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/livez", livez, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *admin_routes(settings.admin_token),
        *dashboard_routes(),
    ]
    # Observed is outermost: a request's event ends as its response's last bytes leave the app.
    middleware = [Middleware(Observed, access=AccessLog(settings.access_log)), Middleware(SingleFraming),
                  Middleware(BrowserGuard, allowed=settings.allowed_origins)]
    if settings.otel_traces_exporter != "none":  # off, a request does not pass through it at all
        middleware.insert(1, Middleware(Traced))
    if settings.gateway_api_keys:
        middleware.append(Middleware(GatewayKeys, table=dict(settings.gateway_api_keys),
                                     default_key=settings.openai_api_key,
                                     anthropic_key=settings.anthropic_api_key,
                                     account_endpoints=settings.account_endpoints == "allow"))
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers=HANDLERS)  # type: ignore[arg-type]
    # A redirect to the slash-less path would be a bare 307 that OpenAI never sends; a 404 in its shape is clearer.
    app.router.redirect_slashes = False
    app.state.readiness = Readiness()  # from the start: a stop may come while the Gateway is still being built
    return app
