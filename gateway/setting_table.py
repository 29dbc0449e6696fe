"""Every setting, as data: one table of variables, each with its parser, default, what it accepts and its help.
The README's configuration table is checked against `SETTINGS` by a test; `gateway.settings` builds the one
frozen object from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.setting_values import (
    ErrorBudgets,
    Parser,
    boolean,
    choice,
    error_budgets,
    float_range,
    int_range,
    key_table,
    name_list,
    optional_int_range,
    optional_path,
    optional_redis_url,
    optional_text,
    prices,
    route_seconds,
    text,
    upstream_table,
    url,
)


@dataclass(frozen=True)
class Setting:
    env: str
    parse: Parser
    default: Any
    accepts: str  # what the variable accepts, shown when a value is rejected
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("REDIS_URL", optional_redis_url, None,
            "a redis:// or rediss:// URL, redis+cluster://host:port[,host:port...], or empty",
            "Redis 8 with the Query Engine. Unset: the embedded in-process store. `redis+cluster://` (or "
            "`rediss+cluster://`) names start-up nodes of a Redis Cluster, which needs `VECTOR_TYPE=int8` or "
            "`float32` (vector sets)."),
    Setting("OPENAI_API_KEY", optional_text, None, "any text",
            "Upstream key used when a client sends no `Authorization` header."),
    Setting("GATEWAY_API_KEYS", key_table, (), "comma-separated keys, or a JSON object (inline or a file path)",
            "When set, only these keys are accepted on `/v1/...` (others get 401) and upstream calls use the key's "
            "own upstream key from the JSON object `{\"gateway key\": \"upstream key\" or null}`, else "
            "`OPENAI_API_KEY`, so real keys never leave the server. Each key is its own tenant."),
    Setting("ACCOUNT_ENDPOINTS", choice("deny", "allow"), "deny", "deny or allow",
            "With gateway keys, whether a key without its own upstream key may reach the upstream account's "
            "stored resources (files, batches, stored completions and responses, assistants, vector stores...), "
            "which every such key shares. `deny`: only stateless endpoints (chat, embeddings, responses, "
            "moderations, audio, images, models) are forwarded; the rest get 403."),
    Setting("ALLOWED_ORIGINS", name_list, frozenset(), "comma-separated origins (https://app.example), or *",
            "Web pages allowed to call `/v1/...` and `/admin/...` from a browser (CORS). Empty: requests a browser "
            "sends for a page (with `Origin` or `Sec-Fetch-*`) are refused, so no page can spend the server's key."),
    Setting("ADMIN_TOKEN", optional_text, None, "any text",
            "Enables the `/admin/...` endpoints for callers presenting it as a bearer token; unset, they don't exist."),
    Setting("UPSTREAM_BASE_URL", url, "https://api.openai.com/v1", "an http(s):// URL",
            "OpenAI-compatible API that requests are forwarded to."),
    Setting("UPSTREAMS_FILE", upstream_table, (), "a TOML or JSON file of upstreams",
            "A routing table of upstream providers (see Providers): which base URL, API, key (from an environment "
            "variable) and timeouts answer which models. A request goes to the first one that serves its model in "
            "its API, else to `UPSTREAM_BASE_URL` or `ANTHROPIC_BASE_URL`."),
    Setting("ANTHROPIC_BASE_URL", url, "https://api.anthropic.com", "an http(s):// URL",
            "Anthropic API that `/v1/messages` and `/v1/messages/count_tokens` are forwarded to (its root, without "
            "`/v1`)."),
    Setting("ANTHROPIC_API_KEY", optional_text, None, "any text",
            "Key sent upstream as `x-api-key` on `/v1/messages...` when a client sends none, and for every gateway "
            "key (the access table's upstream keys are for `UPSTREAM_BASE_URL`)."),
    Setting("GEN_MODEL", text, "gpt-4o-mini", "a model name",
            "Model used when a chat request names none."),
    Setting("EMBED_PROVIDER", choice("local", "openai"), "local", "local or openai",
            "`local`: all-MiniLM-L6-v2 on the CPU (384-d). `openai`: text-embedding-3-small upstream."),
    Setting("LANGUAGE_EMBEDDER", choice("e5", "none"), "e5", "e5 or none",
            "With `EMBED_PROVIDER=local`, what embeds prompts in German, French, Spanish, Portuguese, Italian and "
            "Dutch. `e5`: multilingual-e5-small (4-bit, in-process), its distances scaled onto the local model's "
            "so every threshold keeps its meaning. `none`: the local model, which puts most of their paraphrases "
            "beyond reach."),
    Setting("EMBED_DIM", optional_int_range(1, 8192), None, "an integer 1-8192, or empty",
            "Vector size. `local` is always 384; `openai` defaults to 1536 (sent as `dimensions`)."),
    Setting("EMBED_MODEL", text, "text-embedding-3-small", "a model name",
            "Embedding model asked for when `EMBED_PROVIDER=openai`."),
    Setting("EMBED_TIMEOUT_SECS", float_range(0.01, 60), 2.0, "seconds, 0.01-60",
            "An `openai` embeddings call slower than this bypasses the cache for that request."),
    Setting("LATENCY_SLAYER_MODEL_DIR", optional_path, None, "a directory, or empty",
            "Where `prepare-model` writes the re-quantised local model and the embedder reads it. "
            "Unset: `$XDG_CACHE_HOME/latency-slayer`."),
    Setting("CACHE_DISTANCE_THRESHOLD", float_range(0.0, 2.0), 0.2, "a number from 0 to 2",
            "Largest cosine distance (1 - cosine similarity) served as a semantic hit."),
    Setting("CACHE_VERIFIER", boolean, True, "true or false",
            "A semantic candidate is served only if its prompt has the same numbers, units, dates, names, negation, "
            "kind of question and word roles as the request, and a fitted score over the distance and the words "
            "they do not share finds it likely to ask the same (see Cache correctness)."),
    Setting("RESP_TTL_SECS", int_range(1, 10 * 365 * 86400), 86400, "an integer of seconds >= 1",
            "Lifetime of a cached answer (the `resp` field only; vectors and tags stay)."),
    Setting("RESP_TTL_SLIDING", boolean, True, "true or false",
            "A hit renews the answer's TTL. `false` keeps a fixed lifetime so popular answers still age out."),
    Setting("STALE_MAX_SECS", int_range(0, 365 * 86400), 0, "an integer of seconds >= 0",
            "Longest time past its TTL an answer may be served stale (stale-while-revalidate), whatever a route or "
            "a client's `Cache-Control: max-stale` / `stale-while-revalidate` asks; the store keeps an expired "
            "answer this long for it (with Redis, a second copy of the answer in its hash). 0: never served stale."),
    Setting("STALE_SECS", int_range(0, 365 * 86400), 0, "an integer of seconds >= 0",
            "Stale-while-revalidate window of every route not in `STALE_ROUTES`: an answer that expired less "
            "than this long ago is served at once (`x-cache-stale`, `Age`) while one background call refreshes it. "
            "At most `STALE_MAX_SECS`; 0: off."),
    Setting("STALE_ROUTES", route_seconds, (), "comma-separated route=seconds",
            "Stale-while-revalidate windows per route (e.g. `faq=3600,docs=300`), in place of `STALE_SECS`; each "
            "at most `STALE_MAX_SECS`."),
    Setting("REFRESH_AHEAD_HITS", int_range(0, 1_000_000), 0, "an integer >= 0",
            "Refresh-ahead: an exact answer served this many times since it was written is refreshed in the "
            "background by one upstream call (single-flight, across workers through Redis) once it has no more than "
            "`REFRESH_AHEAD_SHARE` of its lifetime left, so it never goes cold. 0: off."),
    Setting("REFRESH_AHEAD_SHARE", float_range(0.01, 1.0), 0.1, "a number from 0.01 to 1",
            "Share of an answer's lifetime left at which refresh-ahead refreshes it (0.1: in its last tenth)."),
    Setting("REFRESH_BUDGET_REQUESTS", int_range(0, 10_000_000), 60, "an integer >= 0",
            "Refresh-ahead and prefetch upstream calls each route may make per hour for each tenant (everyone on a "
            "shared route together; with Redis, the fleet's; else each worker's)."),
    Setting("REFRESH_BUDGET_TOKENS", int_range(0, 1_000_000_000), 100_000, "an integer >= 0",
            "Tokens each route's refresh-ahead and prefetch may spend per hour for each tenant: a refresh reserves "
            "what the answer it replaces cost, a prefetch what the conversation it goes on with cost plus its answer "
            "again and the question, and starts only if that fits, then counts what it really cost."),
    Setting("PREFETCH", boolean, False, "true or false",
            "Prefetch of likely follow-ups: learn, per conversation context (tenant, or everyone on a shared route), "
            "which next user turns follow it, clustered by meaning; after a hit whose conversation's likeliest next "
            "turn passes `PREFETCH_MIN_PROB` and `PREFETCH_MIN_COUNT` and has no cached answer, ask it in the "
            "background (single-flight, with the client's credentials, within the route's `REFRESH_BUDGET_*`)."),
    Setting("PREFETCH_MIN_PROB", float_range(0.01, 1.0), 0.3, "a number from 0.01 to 1",
            "Share of a context's next turns the likeliest one must have to be prefetched."),
    Setting("PREFETCH_MIN_COUNT", int_range(1, 1_000_000), 3, "an integer >= 1",
            "Times the likeliest next turn of a context must have been seen to be prefetched."),
    Setting("PREFETCH_LEARN_SECS", int_range(60, 365 * 86400), 7 * 86400, "an integer of seconds >= 60",
            "How long what prefetch learnt of a context is kept after its last follow-up."),
    Setting("MISS_DELAY_MS", int_range(0, 600_000), 0, "an integer of milliseconds >= 0",
            "Extra delay added to misses only, to demonstrate the cold path."),
    Setting("SHARED_ROUTES", name_list, frozenset(), "comma-separated route names",
            "Routes whose entries are shared by every API key (e.g. a public FAQ); all others are per key."),
    Setting("HOSTED_TOOL_ROUTES", name_list, frozenset(), "comma-separated route names",
            "Routes whose Responses API and Anthropic Messages requests are cached even when they use tools the "
            "provider runs (`web_search`, `file_search`, `code_interpreter`, `mcp`, Anthropic's `web_search`, "
            "`web_fetch`, `code_execution`, MCP servers...) or a stored prompt template, whose answers depend on more "
            "than the request; elsewhere such requests bypass the cache."),
    Setting("RESPONSES_KEEP_SECS", int_range(60, 10 * 365 * 86400), 30 * 86400, "an integer of seconds >= 60",
            "How long the gateway keeps a Responses API answer it served from the cache under an id of its own, "
            "so that `previous_response_id` and `GET /v1/responses/{id}` work with that id (for its caller only)."),
    Setting("INDEX_NAME", text, "idx:latency_slayer", "an index name", "RediSearch index of the cache."),
    Setting("KEY_PREFIX", text, "cache:", "a key prefix", "Prefix of the cache's hash keys."),
    Setting("VECTOR_TYPE", choice("float32", "float16", "int8"), "float32", "float32, float16 or int8",
            "How Redis keeps vectors: `float32` or `float16` (half the vector memory) in a Query Engine HNSW index; "
            "`int8` in Redis 8's native vector sets (`VADD ... Q8`, a quarter of the memory, no module needed). On "
            "a Redis Cluster `float32` is vector sets unquantised (`VADD ... NOQUANT`, 4x the vector memory of "
            "int8) and `float16` is refused: vector sets have no half precision."),
    Setting("ADAPTIVE_THRESHOLDS", boolean, False, "true or false",
            "Each route of each tenant (a shared route: of everyone on it) starts at `ADAPTIVE_START_THRESHOLD` and "
            "loosens towards `CACHE_DISTANCE_THRESHOLD` only as feedback and shadow checks show its hits are right; "
            "a wrong hit tightens it at once."),
    Setting("ADAPTIVE_START_THRESHOLD", float_range(0.0, 2.0), 0.03, "a number from 0 to 2",
            "Where an adaptive route's cosine distance threshold starts."),
    Setting("SHADOW_SAMPLE_RATE", float_range(0.0, 1.0), 0.0, "a number from 0 to 1",
            "Share of semantic hits answered from upstream instead, and compared with the cached answer to "
            "measure each route's precision."),
    Setting("ROUTE_ERROR_BUDGET", error_budgets, ErrorBudgets(), "a share like 0.01, route=share pairs, or both",
            "The share of a route's served semantic hits that may be wrong (see Learning from evidence): each route "
            "of each tenant then serves the loosest threshold, up to `CACHE_DISTANCE_THRESHOLD`, whose wrong-hit "
            "rate measured by shadow checks, near misses and ratings is under it with 95 % confidence, and exact "
            "matches only until then. `0.01` sets it for every route, `faq=0.005,code=off` for those routes, "
            "`0.01,code=off` both. Unset: no budget."),
    Setting("ADMIT_AFTER_ASKS", int_range(1, 100), 1, "an integer 1-100",
            "Store an answer only once the same request was asked this often within `RESP_TTL_SECS`."),
    Setting("MAX_CACHEABLE_TEMPERATURE", float_range(0.0, 2.0), 1.0, "a number from 0 to 2",
            "Answers to requests asking for a higher `temperature` are served but not stored."),
    Setting("SEMANTIC_CANDIDATES", int_range(1, 100), 5, "an integer 1-100",
            "Nearest neighbours examined per lookup (a candidate whose answer expired falls through)."),
    Setting("MEMORY_MAX_ENTRIES", int_range(1, 10_000_000), 50_000, "an integer >= 1",
            "Entries kept by the embedded store before the least recently used are evicted."),
    Setting("MEMORY_MAX_BYTES", int_range(1 << 20, 1 << 40), 256 << 20, "an integer of bytes >= 1048576",
            "Bytes the embedded store keeps per worker (answers, prompts, vectors and cached embeddings vectors) "
            "before the least recently used go; cached embeddings vectors go first."),
    Setting("MAX_BODY_BYTES", int_range(1024, 1 << 30), 4 << 20, "an integer of bytes >= 1024",
            "Largest request body accepted (413 above)."),
    Setting("MAX_ENTRY_BYTES", int_range(1024, 1 << 30), 1 << 20, "an integer of bytes >= 1024",
            "Largest answer (with its prompt) the cache stores, and largest cached vector of one embeddings input; "
            "bigger ones are served but not stored, so one caller's huge answers cannot slow every other caller's "
            "lookups."),
    Setting("MAX_MERGED_BYTES", int_range(1024, 1 << 30), 4 << 20, "an integer of bytes >= 1024",
            "Largest embeddings answer the gateway holds whole: to store its inputs' vectors, or to put it together "
            "from cached and fresh ones. A batch expected to be bigger goes upstream whole and is relayed as it "
            "arrives, nothing stored."),
    Setting("BODY_TIMEOUT_SECS", float_range(0.1, 3600), 30.0, "seconds, 0.1-3600",
            "A request body still arriving this long after its request started is refused with 408 and its "
            "connection closed, so slow senders cannot hold connections open."),
    Setting("UPSTREAM_CONNECT_TIMEOUT_SECS", float_range(0.01, 600), 5.0, "seconds, 0.01-600",
            "Connecting to the upstream longer than this is a 502."),
    Setting("UPSTREAM_HTTP2", boolean, False, "true or false",
            "Offer HTTP/2 to an https upstream (used when it accepts; else HTTP/1.1). Off by default: httpx puts "
            "every call to one host on a single HTTP/2 connection of at most 100 streams, so a worker's 101st "
            "concurrent call would wait."),
    Setting("SINGLE_FLIGHT", boolean, True, "true or false",
            "Identical concurrent misses (same scope and request) make one upstream call that every caller "
            "shares, streamed or not, across workers through Redis."),
    Setting("EMBED_BATCH_WAIT_MS", float_range(0.0, 50.0), 0.0, "milliseconds, 0-50",
            "How long a local embedding waits for concurrent prompts to embed with it in one batch (0: never)."),
    Setting("UPSTREAM_TIMEOUT_SECS", float_range(0.01, 3600), 600.0, "seconds, 0.01-3600",
            "Waiting longer than this for upstream bytes is a 504 (or an SSE error event mid-stream)."),
    Setting("REDIS_TIMEOUT_MS", int_range(1, 60_000), 250, "an integer of milliseconds >= 1",
            "A Redis command slower than this counts as an outage: the request bypasses the cache."),
    Setting("STORE_RETRY_SECS", float_range(0.0, 3600), 1.0, "seconds >= 0",
            "After a store failure, requests bypass it this long before it is tried again."),
    Setting("METRICS_STREAM", text, "analytics:cache", "a Redis key",
            "Redis Stream that every worker appends one event per request to (with Redis; else an in-process ring)."),
    Setting("METRICS_MAXLEN", int_range(100, 10_000_000), 100_000, "an integer 100-10000000",
            "Events kept: the stream is trimmed to about this many (`XADD MAXLEN ~`), the in-process ring to "
            "exactly this many."),
    Setting("METRICS_PRICES", prices, (), "a JSON object or the path of a JSON file",
            "Prices for the cost-saved estimate, `{\"model\": [input, output]}` in US dollars per million tokens; "
            "added to and overriding the built-in list of OpenAI and Anthropic models."),
    Setting("METRICS_TOKEN", optional_text, None, "any text",
            "When set, the dashboard (`/`, `/dashboard/...`) and `/metrics` answer only callers presenting it, as a "
            "bearer token or as the password of HTTP Basic authentication (a browser asks for it); others get 401."),
    Setting("OTEL_TRACES_EXPORTER", choice("none", "otlp"), "none", "none or otlp",
            "`otlp`: send OpenTelemetry traces (a span per request, with the cache's steps and the upstream call) "
            "over OTLP/HTTP; needs the `otel` extra. Off by default (unlike the OpenTelemetry convention)."),
    Setting("OTEL_EXPORTER_OTLP_ENDPOINT", url, "http://localhost:4318", "an http(s):// URL",
            "The OTLP/HTTP collector traces are sent to (to its `/v1/traces`)."),
    Setting("OTEL_SERVICE_NAME", text, "latency-slayer", "a name",
            "The `service.name` of the gateway's spans."),
    Setting("TRACE_CLIENT_CONTEXT", choice("continue", "ignore"), "continue", "continue or ignore",
            "`continue`: a request's W3C `traceparent` makes its span part of the client's trace, sampled as the "
            "client decided (or by its trace id); `ignore`: every request starts a trace of its own, sampled by the "
            "gateway alone, so a client cannot have all its requests traced (nor none). `ignore` where clients are "
            "not trusted."),
    Setting("LOG_LEVEL", choice("debug", "info", "warning", "error"), "info",
            "debug, info, warning or error", "Log level of the gateway."),
    Setting("SHUTDOWN_DELAY_SECS", float_range(0.0, 300), 0.0, "seconds, 0-300",
            "On SIGTERM or SIGINT, `/readyz` turns 503 at once but the gateway keeps accepting requests this long, "
            "so a load balancer (a Kubernetes Service) sees it unready and stops sending before it stops listening; "
            "with 0 a request sent meanwhile could meet a closed port. 0 suits a gateway no balancer is in front of."),
    Setting("SHUTDOWN_GRACE_SECS", float_range(0.0, 3600), 30.0, "seconds, 0-3600",
            "After it stops accepting, how long the gateway lets requests and streams in flight finish (relayed "
            "misses, single-flight leaders whose followers wait in other processes) before cutting those left; then "
            "it stores their answers, flushes metrics events and exits. Keep the delay plus this below the "
            "orchestrator's kill timeout (`terminationGracePeriodSeconds`)."),
    Setting("READY_REQUIRES_STORE", boolean, False, "true or false",
            "`/readyz` answers 503 while Redis cannot be reached, so a balancer sends traffic to replicas that can "
            "cache. Off by default: a gateway bypassing its store still answers every request (from upstream)."),
    Setting("ACCESS_LOG", choice("off", "debug", "info", "warning"), "info", "off, debug, info or warning",
            "The level each request's access log line (one JSON object, see Observability) is written at, shown "
            "when `LOG_LEVEL` lets that level through; health probes, `/metrics` scrapes and the dashboard's polls "
            "are always at debug. `off`: no access log."),
)
