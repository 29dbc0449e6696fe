"""`python -m bench.sizes --entries 1000000 --types float32,float16,int8`: the cache at size, per vector type.

For each type, a fresh Redis 8 is bulk-loaded with N entries (real MiniLM embeddings of Quora questions, and
mixtures of them with a little noise to make N distinct vectors; ~600-byte answers), then measured: load time,
Redis memory per entry and for the vectors alone, `search` latency at concurrency 1 on fresh paraphrases,
recall@1/@5 against exact FLOAT32 search (numpy), and semantic hits end to end through a served gateway.
Writes bench/results/sizes.{json,md}."""

from __future__ import annotations

import argparse
import asyncio
import csv
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis

from bench import load, services
from bench.workload import body
from gateway.assembly import make_store
from gateway.cache.layers import tags_of
from gateway.embedding.local import LocalEmbedder
from gateway.settings import load_settings
from gateway.store.base import Entry
from gateway.store.redis.entries import RedisEntries
from gateway.wire.canonical import SHARD_CHARS, chat_key, shard_of, tenant_digest
from gateway.wire.controls import DEFAULT_ROUTE
from tests.support.fake_upstream import FakeUpstream
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
PAIRS_CSV = ROOT.parent / "shared" / "data" / "pairs" / "qqp_dev.csv"
RESULTS = Path(__file__).parent / "results"
BASE_PROMPTS = 4000  # distinct real questions embedded; the rest of N are mixtures of them
CHUNK = 20_000  # entries generated and loaded at a time
K = 5  # the gateway's default SEMANTIC_CANDIDATES
THRESHOLD = "0.2"  # as bench/run.py: the peers' similarity 0.80
# The corpus is English, embedded here by the local model alone: the gateways that read it must name the same
# embedder, and the language embedder would only be asked for prompts told German, French... which it holds none of.
LOCAL_MODEL_ONLY = {"LANGUAGE_EMBEDDER": "none"}
INDEX, PREFIX = "idx:sizes", "sizes:"


def _say(message: str) -> None:
    print(f"[sizes {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _texts(path: Path, queries: int, entries: int) -> tuple[list[str], list[str]]:
    """(questions to cache, paraphrases of some of them to look up): duplicates first, so every query's
    question is cached."""
    with path.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["question1"].strip() and row["question2"].strip()]
    duplicates = [row for row in rows if row["is_duplicate"] == "1"][:queries]
    cached = list(dict.fromkeys([row["question1"] for row in duplicates] + [row["question1"] for row in rows]))
    return cached[:min(BASE_PROMPTS, entries)], [row["question2"] for row in duplicates]


def answer(prompt: str) -> bytes:
    """A finished chat.completion of about 600 bytes, like the ones the gateway stores."""
    content = (f"Here is a short answer to: {prompt[:120]} " + "It depends on the details; in general " * 12)[:380]
    return orjson.dumps({
        "id": "chatcmpl-sizes", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 14, "completion_tokens": 90, "total_tokens": 104}, "system_fingerprint": "fp_0"})


def synthetic_vectors(base: np.ndarray, entries: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """N distinct unit vectors: the real ones first, then each a real one plus a weaker one plus noise.
    Returns (vectors, the real row each one is derived from)."""
    rng = np.random.default_rng(seed)
    count = len(base)
    origin = np.concatenate([np.arange(min(count, entries)), rng.integers(0, count, max(entries - count, 0))])
    vectors = np.empty((entries, base.shape[1]), dtype=np.float32)
    vectors[:count] = base[:entries]
    for start in range(count, entries, CHUNK):
        rows = origin[start:start + CHUNK]
        vectors[start:start + len(rows)] = mixtures(base, rows, rng)
    return vectors, origin


def mixtures(base: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors near `base[rows]`: each that row plus a weaker random one plus noise, so N distinct vectors
    keep the clustering of real embeddings."""
    mixed = base[rows] + rng.uniform(0.1, 0.5, (len(rows), 1)).astype(np.float32) * base[
        rng.integers(0, len(base), len(rows))] + rng.normal(0, 0.005, (len(rows), base.shape[1])).astype(np.float32)
    return mixed / np.linalg.norm(mixed, axis=1, keepdims=True)


def synthetic_id(context: str, row: int) -> str:
    """The id of a made-up entry of the scope `context`: its shard first, as every entry id (a cluster finds the
    entry's slot from it), then the row, which `row_of_id` reads back."""
    return shard_of(context) + format(row, f"0{32 - SHARD_CHARS}x")


def row_of_id(key: str) -> int:
    return int(key[SHARD_CHARS:], 16)


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k nearest vectors by cosine, by brute force in FLOAT32: the truth recall is measured against."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.empty((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), 100_000):
        scores = queries @ vectors[start:start + 100_000].T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if scores.shape[1] > k else np.argsort(-scores)[:, :k]
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        best_rows = np.concatenate([best_rows, top + start], axis=1)
        keep = np.argsort(-best_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
    return best_rows


class Corpus:
    """Everything every vector type is loaded with and asked, built once."""

    def __init__(self, entries: int, queries: int, pairs: Path) -> None:
        cached, paraphrases = _texts(pairs, queries, entries)
        embedder = LocalEmbedder()
        self.embedder_name, self.dim = embedder.name, embedder.dim
        _say(f"embedding {len(cached)} questions and {len(paraphrases)} paraphrases")
        embed = [embedder.embed_batch(cached[start:start + 64]) for start in range(0, len(cached), 64)]
        self.queries = np.concatenate([embedder.embed_batch(paraphrases[start:start + 64])
                                       for start in range(0, len(paraphrases), 64)])
        self.embed_secs = []  # one paraphrase at a time, as the gateway embeds a fresh prompt: its share of a hit
        for paraphrase in paraphrases:
            started = time.perf_counter()
            embedder.embed_batch([paraphrase])
            self.embed_secs.append(time.perf_counter() - started)
        asyncio.run(embedder.close())
        self.prompts, self.paraphrases = cached, paraphrases
        self.vectors, self.origin = synthetic_vectors(np.concatenate(embed), entries)
        self.answers = [answer(prompt) for prompt in cached]
        tenant = tenant_digest(services.BENCH_KEY)
        self.keys = [chat_key(orjson.loads(body(prompt)), model="gpt-4o-mini", route=DEFAULT_ROUTE, tenant=tenant)
                     for prompt in cached]
        self.tags = tags_of(self.keys[0])  # one scope: every vector is a neighbour candidate of every lookup
        self.row_of = {key.exact: row for row, key in enumerate(self.keys)}
        _say(f"exact top-{K} of {len(self.queries)} queries over {entries:,} vectors (numpy, FLOAT32)")
        self.truth = exact_neighbours(self.vectors, self.queries, K)

    def key(self, row: int) -> str:
        return self.keys[row].exact if row < len(self.keys) else synthetic_id(self.tags.context, row)

    def row(self, key: str) -> int:
        return self.row_of.get(key, row_of_id(key) if len(key) == 32 else -1)

    def entries(self, start: int, stop: int) -> list[Entry]:
        return [Entry(self.key(row), self.tags, self.prompts[self.origin[row]], self.vectors[row],
                      self.answers[self.origin[row]]) for row in range(start, stop)]


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000
    return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in (50, 95, 99)}


def _vector_memory(client: redis.Redis, vector_type: str) -> int:
    if vector_type == "int8":
        return sum(int(client.memory_usage(key, samples=0) or 0) for key in client.scan_iter(f"{PREFIX}vset:*"))
    return int(float(client.execute_command("FT.INFO", INDEX)[b"vector_index_sz_mb"]) * 1024 * 1024)


async def _load_and_ask(store: RedisEntries, corpus: Corpus, server: RedisServer, vector_type: str) -> dict[str, Any]:
    entries = len(corpus.vectors)
    await store.open(dim=corpus.dim, embedder=corpus.embedder_name)
    with redis.Redis.from_url(server.url, protocol=3) as client:
        before = int(client.info("memory")["used_memory"])
        started = time.perf_counter()
        for start in range(0, entries, CHUNK):
            await store.write_many(corpus.entries(start, min(start + CHUNK, entries)), ttl_ms=86_400_000)
            if start // CHUNK % 10 == 9:
                _say(f"{vector_type}: {start + CHUNK:,} loaded")
        load_secs = time.perf_counter() - started
        used = int(client.info("memory")["used_memory"]) - before
        vector_bytes = _vector_memory(client, vector_type)
    latencies, found = [], []
    for _ in range(2):  # the first pass warms connections and caches: only the second is timed
        latencies.clear()
        found.clear()
        for query in corpus.queries:
            started = time.perf_counter()
            candidates = await store.search(corpus.tags, query, K)
            latencies.append(time.perf_counter() - started)
            found.append([corpus.row(candidate.key) for candidate in candidates])
    recall1 = np.mean([bool(rows) and rows[0] == truth[0] for rows, truth in zip(found, corpus.truth, strict=True)])
    recall5 = np.mean([len(set(rows) & set(truth)) / K for rows, truth in zip(found, corpus.truth, strict=True)])
    await store.close()
    return {"entries": entries, "load_secs": round(load_secs, 1), "entries_per_sec": round(entries / load_secs),
            "bytes_per_entry": round(used / entries, 1), "vector_bytes_per_entry": round(vector_bytes / entries, 1),
            "vector_memory_mb": round(vector_bytes / 2**20, 1), "search_ms": percentiles(latencies),
            "recall_at_1": round(float(recall1), 4), "recall_at_5": round(float(recall5), 4)}


def _through_gateway(corpus: Corpus, server: RedisServer, env: dict[str, str], logs: Path) -> dict[str, Any]:
    """Fresh paraphrases (never asked before, so each is embedded) through a served gateway, concurrency 1."""
    with FakeUpstream(latency=0) as upstream, services.gateway(
            upstream=upstream.base_url, workers=1, logs=logs, env=env) as gateway:
        load.sequential(gateway.url, [body(prompt) for prompt in corpus.prompts[-20:]])  # warm: exact hits
        samples = load.sequential(gateway.url, [body(prompt) for prompt in corpus.paraphrases])
    hits = [sample.seconds for sample in samples if sample.hit and sample.layer == "semantic"]
    return {"semantic_hits": f"{len(hits)}/{len(samples)}", "semantic_hit_ms": percentiles(hits) if hits else {},
            "all_ms": percentiles([sample.seconds for sample in samples])}


def measure_type(corpus: Corpus, vector_type: str, *, gateway: bool) -> dict[str, Any]:
    env = {"REDIS_URL": "", "INDEX_NAME": INDEX, "KEY_PREFIX": PREFIX, "VECTOR_TYPE": vector_type,
           "REDIS_TIMEOUT_MS": "5000", "CACHE_DISTANCE_THRESHOLD": THRESHOLD,
           **LOCAL_MODEL_ONLY}
    with RedisServer() as server:
        env["REDIS_URL"] = server.url
        store = make_store(load_settings(environ=env, dotenv=Path("/nonexistent/.env")))
        assert isinstance(store, RedisEntries)
        result = asyncio.run(_load_and_ask(store, corpus, server, vector_type))
        _say(f"{vector_type}: {result}")
        if gateway:
            env["REDIS_TIMEOUT_MS"] = "250"
            result["gateway"] = _through_gateway(corpus, server, env, Path(tempfile.mkdtemp(prefix="sizes-")))
            _say(f"{vector_type}: gateway {result['gateway']}")
    return result


def markdown(results: dict[str, Any]) -> str:
    rows = [("load time (s)", lambda r: r["load_secs"]),
            ("Redis memory per entry (bytes)", lambda r: r["bytes_per_entry"]),
            ("vector index memory (MB)", lambda r: r["vector_memory_mb"]),
            ("vector memory per entry (bytes)", lambda r: r["vector_bytes_per_entry"]),
            ("search p50 / p95 / p99 (ms)", lambda r: " / ".join(str(v) for v in r["search_ms"].values())),
            ("recall@1 / recall@5 vs exact FLOAT32", lambda r: f"{r['recall_at_1']} / {r['recall_at_5']}"),
            ("gateway semantic hits", lambda r: r.get("gateway", {}).get("semantic_hits", "-")),
            ("gateway semantic-hit p50 / p95 (ms), fresh paraphrase", lambda r: " / ".join(
                str(v) for v in list(r.get("gateway", {}).get("semantic_hit_ms", {}).values())[:2]) or "-")]
    types = list(results["types"])
    lines = [f"{results['entries']:,} entries | " + " | ".join(types), "|".join(["---"] * (len(types) + 1))]
    lines[0] = "| " + lines[0] + " |"
    lines[1] = "|" + lines[1] + "|"
    lines += ["| " + name + " | " + " | ".join(str(cell(results["types"][t])) for t in types) + " |"
              for name, cell in rows]
    lines.append(f"\nEmbedding one fresh paraphrase alone (p50 / p95 / p99 ms): "
                 f"{' / '.join(str(v) for v in results['embed_ms'].values())}")
    return "\n".join(lines)


def run_sizes(entries: int, types: Sequence[str], *, queries: int = 500, gateway: bool = True,
              output: Path = RESULTS, pairs: Path = PAIRS_CSV) -> dict[str, Any]:
    """Measure each vector type at `entries` entries; writes sizes.json and sizes.md under `output`."""
    corpus = Corpus(entries, queries, pairs)
    results: dict[str, Any] = {"entries": entries, "queries": len(corpus.queries), "k": K,
                               "embed_ms": percentiles(corpus.embed_secs), "types": {}}
    output.mkdir(parents=True, exist_ok=True)
    for vector_type in types:  # written after each type: a 1M run takes long, and what is done is kept
        results["types"][vector_type] = measure_type(corpus, vector_type, gateway=gateway)
        (output / "sizes.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
        (output / "sizes.md").write_text(markdown(results) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sizes", description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--types", default="float32,float16,int8")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--no-gateway", action="store_true", help="skip the end-to-end lookups")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--pairs", type=Path, default=PAIRS_CSV, help="a CSV of question pairs (question1, question2)")
    args = parser.parse_args(argv)
    types = [name.strip() for name in args.types.split(",") if name.strip()]
    results = run_sizes(args.entries, types, queries=args.queries, gateway=not args.no_gateway, output=args.output,
                        pairs=args.pairs)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
