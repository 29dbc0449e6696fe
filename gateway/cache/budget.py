"""A wrong-hit budget per route (`ROUTE_ERROR_BUDGET`): the loosest distance threshold whose share of wrong
semantic hits is, with `CONFIDENCE`, under the budget, on the verdicts measured in the scope; until then, exact
matches only.

A verdict is a semantic hit (served, or the near miss a miss was compared with) judged right or wrong at the
distance the gateway measured. A hit at distance d is one every threshold t >= d would serve, so a verdict counts
for every threshold from its distance up: the wrong-hit rate at t is that of the verdicts at distances <= t.
Verdicts are kept as counts per `STEP` of distance, so a scope's evidence is a few hundred numbers at most.

Nothing unmeasured is assumed: a threshold is only ever chosen at a step holding verdicts of its own, never
between the loosest verdict and the ceiling, and a cold scope, with no verdicts, serves exact matches only. The
evidence to loosen comes from near misses: each miss whose nearest candidate lies beyond the threshold (within
`CACHE_DISTANCE_THRESHOLD`) is compared with the fresh answer at no upstream cost, so the boundary is sampled on
every such miss; served hits are sampled by shadow checks (`SHADOW_SAMPLE_RATE`) and ratings. Served hits are
thus sampled less than near misses: where wrong hits grow with distance, as they do, that overweights the far
side and errs strict."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.cache import binomial

CONFIDENCE = 0.95  # the budget holds with this confidence (a one-sided exact Clopper-Pearson bound)
STEP = 0.005  # thresholds are chosen on this grid of cosine distances
EXACT_ONLY = -1.0  # below every distance: the semantic layer serves nothing

Verdicts = dict[int, list[int]]  # step -> [good, bad]: the verdicts at distances in (STEP * (step - 1), STEP * step]


def step_of(distance: float) -> int:
    # The step whose threshold is the first to serve `distance` (rounded so 0.01 is step 2, not 3).
    return max(0, math.ceil(round(distance / STEP, 9)))


def add(verdicts: Verdicts, distance: float, good: bool) -> None:
    counts = verdicts.setdefault(step_of(distance), [0, 0])
    counts[0 if good else 1] += 1


@dataclass(frozen=True)
class Choice:
    """The threshold in force and the verdicts behind it (those at or under it; none at exact only)."""

    threshold: float
    good: int = 0
    bad: int = 0

    @property
    def evidence(self) -> int:
        return self.good + self.bad


def ladder(verdicts: Verdicts, ceiling: float) -> list[Choice]:
    """Each step up to `ceiling` holding verdicts, strictest first, with the verdicts at or under it."""
    good = bad = 0
    steps = []
    for step in sorted(step for step in verdicts if step * STEP <= ceiling + 1e-9):
        good += verdicts[step][0]
        bad += verdicts[step][1]
        steps.append(Choice(round(step * STEP, 6), good, bad))
    return steps


def enough(budget: float) -> float:
    """How many verdicts a threshold needs before it is tested: as many as pass with none wrong."""
    return math.log(1.0 - CONFIDENCE) / math.log1p(-budget)


def choose(verdicts: Verdicts, budget: float, ceiling: float) -> Choice:
    """The loosest step up to `ceiling` holding verdicts, such that the verdicts up to it, and up to every stricter
    step tested before it, show the wrong-hit rate under `budget` with `CONFIDENCE`; exact only when there is none.

    Steps are tested in order from the strictest, stopping at the first that fails (fixed-sequence testing): to
    serve a threshold whose true rate is over the budget, the first such step must have passed by chance, which
    happens with probability 1 - CONFIDENCE at most, however many steps there are. Taking the loosest step that
    passes, skipping failures, would give every step near the edge its own chance. Steps with too few verdicts to
    pass even with none wrong are skipped: which they are depends on the counts, not on the verdicts."""
    chosen = Choice(EXACT_ONLY)
    for step in ladder(verdicts, ceiling):
        if step.evidence < enough(budget):
            continue
        if not binomial.below(budget, step.bad, step.evidence, CONFIDENCE):
            break
        chosen = step
    return chosen


def rate(bad: int, evidence: int) -> dict[str, float | None]:
    """The measured wrong-hit rate and its interval: each end a one-sided bound at `CONFIDENCE`."""
    if evidence <= 0:
        return {"wrong_rate": None, "wrong_low": None, "wrong_high": None}
    return {"wrong_rate": bad / evidence, "wrong_low": binomial.lower(bad, evidence, CONFIDENCE),
            "wrong_high": binomial.upper(bad, evidence, CONFIDENCE)}
