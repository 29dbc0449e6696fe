"""`latency-slayer eval`: how often the cache would serve a wrong answer, and how often a right one, measured on
labelled prompt pairs through the real cache path: the same `CacheLayers`, in-process store, embedders and
hit verifier as the gateway, with each pair in its own scope so that pairs never see each other.

A pair is `question1` (asked earlier, its answer cached), `question2` (arriving now) and `is_duplicate` (1: the
cached answer is right for it). The false-hit rate is the share of 0 rows served from the cache, the hit recall
the share of 1 rows served. A file with the columns `lang` and `kind` (the multilingual pairs) is also reported
per language of the arriving prompt and per kind of pair."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gateway.cache.layers import PolicyConfig
from gateway.cache.verifier.rules import HitVerifier
from gateway.embedding.base import Embedder
from gateway.errors import CacheUnavailable
from gateway.setting_values import positive
from gateway.wire.canonical import RequestKey, chat_key
from gateway.wire.controls import Controls

BASELINE_THRESHOLD = 0.10  # what peers ship: cosine similarity 0.90, no verifier
SWEEP = tuple(round(0.02 * step, 2) for step in range(1, 16))  # cosine distances 0.02 .. 0.30
_WIDE = 2.0  # a threshold every candidate is within, to learn each pair's distance whatever the verdict
_ANSWER = {"id": "eval", "object": "chat.completion", "created": 0, "model": "eval", "usage": None,
           "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "-"}}]}


@dataclass(frozen=True)
class Pair:
    cached: str
    query: str
    duplicate: bool
    lang: str = ""  # the arriving prompt's language, where the file says
    kind: str = ""  # what sets the two apart ("paraphrase", "negation", "crosslang"...), where the file says


@dataclass(frozen=True)
class Outcome:
    """What the cache did with one pair."""

    duplicate: bool
    distance: float  # cosine distance of the cached prompt to the query (0: exact repeat, inf: not embeddable)
    objection: str | None  # the verifier's rule against serving it, None when it accepts
    served: bool  # whether the lookup with the settings under test served the cached answer
    verify_us: float  # the CPU time the verifier's verdict took


@dataclass(frozen=True)
class Rates:
    false_hits: int
    different: int
    hits: int
    duplicates: int

    @property
    def false_hit_rate(self) -> float:
        return self.false_hits / self.different if self.different else 0.0

    @property
    def recall(self) -> float:
        return self.hits / self.duplicates if self.duplicates else 0.0

    def __str__(self) -> str:
        return (f"false hits {self.false_hit_rate:6.2%} ({self.false_hits}/{self.different})   "
                f"hit recall {self.recall:6.1%} ({self.hits}/{self.duplicates})")


def rates(served: Sequence[bool], duplicate: Sequence[bool]) -> Rates:
    served_, duplicate_ = np.asarray(served, dtype=bool), np.asarray(duplicate, dtype=bool)
    return Rates(false_hits=int((served_ & ~duplicate_).sum()), different=int((~duplicate_).sum()),
                 hits=int((served_ & duplicate_).sum()), duplicates=int(duplicate_.sum()))


def served_at(outcomes: Sequence[Outcome], threshold: float, *, verifier: bool) -> list[bool]:
    """Whether each pair would be served at `threshold`, with or without the verifier's veto."""
    return [o.distance <= threshold and (o.objection is None or not verifier) for o in outcomes]


def sweep(outcomes: Sequence[Outcome], thresholds: Sequence[float]) -> list[tuple[float, Rates, Rates]]:
    """Per threshold: the rates without the verifier, and with it."""
    duplicate = [o.duplicate for o in outcomes]
    return [(threshold, rates(served_at(outcomes, threshold, verifier=False), duplicate),
             rates(served_at(outcomes, threshold, verifier=True), duplicate)) for threshold in thresholds]


def read_pairs(path: Path, limit: int | None = None) -> list[Pair]:
    """Rows of `question1,question2,is_duplicate`; raises ValueError on another shape."""
    with path.open(newline="", encoding="utf-8") as file:
        rows = csv.DictReader(file)
        if not {"question1", "question2", "is_duplicate"} <= set(rows.fieldnames or ()):
            raise ValueError("expected the columns question1,question2,is_duplicate")
        pairs: list[Pair] = []
        for row in rows:
            if limit is not None and len(pairs) == limit:
                break
            if row["is_duplicate"].strip() not in ("0", "1"):
                raise ValueError(f"is_duplicate must be 0 or 1, not {row['is_duplicate']!r}")
            pairs.append(Pair(row["question1"], row["question2"], row["is_duplicate"].strip() == "1",
                              (row.get("lang") or "").strip(), (row.get("kind") or "").strip()))
    return pairs


class _Remembering:
    """An embedder that keeps its last few vectors: both policies look each query up, it is embedded once."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim, self.surely_read = inner.name, inner.dim, inner.surely_read
        self.read_chars, self.reader, self.distance_scale = inner.read_chars, inner.reader, inner.distance_scale
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    async def embed(self, text: str, *, api_key: str | None = None) -> np.ndarray:
        if text not in self._recent:
            self._recent[text] = await self.inner.embed(text, api_key=api_key)
            if len(self._recent) > 4:
                self._recent.popitem(last=False)
        return self._recent[text]

    async def close(self) -> None:
        await self.inner.close()

    def health(self) -> dict[str, Any]:
        return self.inner.health()


def _key(prompt: str, route: str) -> RequestKey:
    return chat_key({"messages": [{"role": "user", "content": prompt}]}, model="eval", route=route, tenant="eval")


async def measure(pairs: Sequence[Pair], embedder: Embedder, config: PolicyConfig, *, shipped: HitVerifier,
                  verifier: HitVerifier | None, verifiers: Mapping[str, HitVerifier] | None = None) -> list[Outcome]:
    """Each pair through the real path: `remember` the cached prompt, then `lookup` the query twice, once with the
    settings under test and once at a threshold everything is within (for its distance, whatever the verdict).
    The shipped verifier's objection is recorded for every pair, also when the settings under test go without."""
    from gateway.assembly import measured_cache  # it names the classes, and loads only when `eval` runs

    others = dict(verifiers or {})  # by the name of the embedder that reads a prompt, as the gateway's
    store, tested, wide = await measured_cache(_Remembering(embedder), config, verifier=verifier, verifiers=others)
    outcomes = []
    for number, pair in enumerate(pairs):
        route = f"pair-{number}"  # a scope of its own: pairs never see each other
        cached, query = _key(pair.cached, route), _key(pair.query, route)
        try:
            await wide.remember(cached, _ANSWER, Controls(route=route), vector=None, api_key=None)
            nearest = (await wide.lookup(query, Controls(route=route, threshold=_WIDE), api_key=None)).hit
        except CacheUnavailable:  # e.g. an empty prompt: the gateway would bypass the cache
            nearest = None
        distance = float("inf") if nearest is None else nearest.distance or 0.0
        judge = others.get(embedder.reader(pair.query).name, shipped)
        # Timed before the lookup under test, which asks the verifier too: both prompts are read afresh here. CPU
        # time of this thread, so that other processes on a busy machine do not count (wall time's p99 did, x50).
        started = time.thread_time()
        objection = judge.objection(pair.query, pair.cached, min(distance, _WIDE))  # what `accepts` decides on
        verify_us = (time.thread_time() - started) * 1e6
        served = nearest is not None and (
            await tested.lookup(query, Controls(route=route), api_key=None)).hit is not None
        outcomes.append(Outcome(pair.duplicate, distance, objection, served, verify_us))
        await store.delete(cached.exact)
    return outcomes


def _objections(outcomes: Sequence[Outcome]) -> str:
    counted = Counter(o.objection for o in outcomes if o.objection is not None)
    return ", ".join(f"{rule} {count}" for rule, count in counted.most_common()) or "none"


def by_group(pairs: Sequence[Pair], outcomes: Sequence[Outcome]) -> list[str]:
    """The rates under the settings tested, and the verifier's cost, per language and per kind of pair, where the
    file names them."""
    lines = []
    for label, group_of in (("language", lambda pair: pair.lang), ("kind", lambda pair: pair.kind)):
        groups: dict[str, list[Outcome]] = {}
        for pair, outcome in zip(pairs, outcomes, strict=True):
            if group_of(pair):
                groups.setdefault(group_of(pair), []).append(outcome)
        for group, members in sorted(groups.items()):
            measured = rates([o.served for o in members], [o.duplicate for o in members])
            lines.append(f"  {label} {group:11s} {len(members):5d} pairs   {measured}   verifier {cost(members)}")
    return lines


def cost(outcomes: Sequence[Outcome]) -> str:
    """The verifier's CPU time per candidate, both prompts read afresh: its median and its 99th percentile."""
    spent = np.array([o.verify_us for o in outcomes]) if outcomes else np.zeros(1)
    return f"p50 {np.percentile(spent, 50):.0f} µs, p99 {np.percentile(spent, 99):.0f} µs"


def report(name: str, outcomes: Sequence[Outcome], setting: str, pairs: Sequence[Pair] = ()) -> list[str]:
    duplicates = sum(o.duplicate for o in outcomes)
    baseline = rates(served_at(outcomes, BASELINE_THRESHOLD, verifier=False), [o.duplicate for o in outcomes])
    lines = [f"{name}: {len(outcomes)} pairs ({duplicates} duplicates, {len(outcomes) - duplicates} different)",
             f"  {setting:44s} {rates([o.served for o in outcomes], [o.duplicate for o in outcomes])}",
             f"  {f'before: threshold {BASELINE_THRESHOLD:.2f}, no verifier':44s} {baseline}",
             f"  verifier per candidate: {cost(outcomes)}; objections: {_objections(outcomes)}",
             *by_group(pairs, outcomes),
             "  distance   no verifier: false hits  recall   with verifier: false hits  recall"]
    for threshold, plain, verified in sweep(outcomes, SWEEP):
        lines.append(f"  {threshold:8.2f}   {plain.false_hit_rate:24.2%}  {plain.recall:6.1%}"
                     f"   {verified.false_hit_rate:26.2%}  {verified.recall:6.1%}")
    return lines


async def _evaluate(args: argparse.Namespace) -> int:
    from gateway.assembly import local_embedder, make_verifiers  # loads the models: only when `eval` runs
    from gateway.settings import load_settings

    settings = load_settings()
    threshold = settings.cache_distance_threshold if args.threshold is None else args.threshold
    verify = settings.cache_verifier and args.verifier
    # Adaptive thresholds are learnt per route from live traffic; a pair has none, so the fixed threshold is measured.
    config = PolicyConfig(threshold=threshold, ttl_secs=settings.resp_ttl_secs, sliding=settings.resp_ttl_sliding,
                          candidates=settings.semantic_candidates)
    setting = f"now: threshold {threshold:.2f}, {'verifier' if verify else 'no verifier'}"
    try:
        files = [(path, read_pairs(path, args.limit)) for path in args.pairs]
    except (OSError, ValueError, KeyError) as error:
        print(f"latency-slayer eval: {error}", file=sys.stderr)
        return 2
    embedder = local_embedder(settings)
    shipped, verifiers = make_verifiers(replace(settings, cache_verifier=True, embed_provider="local"), embedder)
    assert shipped is not None  # asked for with the verifier on
    try:
        for path, pairs in files:
            outcomes = await measure(pairs, embedder, config, shipped=shipped, verifier=shipped if verify else None,
                                     verifiers=verifiers)
            print("\n".join(report(path.name, outcomes, setting, pairs)), flush=True)
            if args.budget:
                from gateway.budget_simulation import budget_report  # it builds on this module

                for share in args.budget:
                    print("\n".join(budget_report(outcomes, share, threshold, shadow_rate=args.shadow_rate)),
                          flush=True)
    finally:
        await embedder.close()
    return 0


def run_eval(args: argparse.Namespace) -> int:
    return asyncio.run(_evaluate(args))


def _threshold(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 2.0:
        raise argparse.ArgumentTypeError("a cosine distance from 0 to 2")
    return number


def _shares(value: str) -> tuple[float, ...]:
    numbers = tuple(float(part) for part in value.split(","))
    if not all(0.0 < number < 1.0 for number in numbers):
        raise argparse.ArgumentTypeError("shares above 0 and below 1")
    return numbers


def _rate(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError("a share from 0 to 1")
    return number


def add_eval_command(commands: Any) -> None:
    """Register `eval` on the CLI's subparsers."""
    evaluate = commands.add_parser("eval", help="false-hit rate and hit recall of the cache on labelled prompt pairs")
    evaluate.add_argument("pairs", nargs="+", type=Path, metavar="PAIRS.csv",
                          help="question1 (cached), question2 (arriving), is_duplicate (0 or 1)")
    evaluate.add_argument("--limit", type=positive, help="only the first N rows of each file")
    evaluate.add_argument("--threshold", type=_threshold, help="cosine distance instead of CACHE_DISTANCE_THRESHOLD")
    evaluate.add_argument("--no-verifier", dest="verifier", action="store_false",
                          help="serve semantic hits without the hit verifier")
    evaluate.add_argument("--budget", type=_shares, help="also feed the pairs as one stream to a route with this "
                                                         "wrong-hit budget (ROUTE_ERROR_BUDGET), e.g. 0.01 or "
                                                         "0.01,0.05 (one stream each)")
    evaluate.add_argument("--shadow-rate", type=_rate, default=0.1,
                          help="with --budget: the share of hits shadow-checked (default 0.1)")
    evaluate.set_defaults(run=run_eval)
