"""`latency-slayer eval --budget 0.01`: a route under a wrong-hit budget, fed the pairs of a labelled set as one
stream of traffic, in a seeded random order, and what it cost.

Each pair is a request whose nearest cached prompt is its `question1`, at the distance and with the verifier's
verdict `eval` measured through the real cache path. The route holds the budget's threshold in force
(`gateway.cache.budget`, the gateway's own rule), starting at exact only, and learns as the gateway does: a
request whose candidate the verifier accepts within `CACHE_DISTANCE_THRESHOLD` but beyond the threshold is a near
miss, compared with the fresh answer (a verdict at its distance); one within it is served, except the
`--shadow-rate` share answered from upstream and compared instead. A comparison's verdict is the pair's label:
the shadow check is taken to tell a right answer from a wrong one, as it does for tool calls and, by meaning, for
most texts. Served hits are counted as they were served, including while the route was still learning.

The report ends with why the route ended where it did, on its verdicts at the end: whether any threshold's
verdicts show the budget at all (if none does, the budget is out of the evidence's reach, whatever the order of
testing), or one does that a stricter threshold's failure kept it from (what fixed-sequence testing costs)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.cache import binomial, budget
from gateway.evaluation import Outcome, Rates, rates, served_at


@dataclass(frozen=True)
class Run:
    served: list[bool]  # per pair, in the stream's order
    duplicate: list[bool]
    shadowed: int  # would-be hits answered from upstream to check them
    verdicts: int
    final: budget.Choice
    ladder: list[budget.Choice]  # the verdicts at the end, per threshold (`budget.ladder`)


def simulate(outcomes: Sequence[Outcome], share: float, ceiling: float, *, shadow_rate: float,
             seed: int = 0) -> Run:
    order = list(outcomes)
    chance = random.Random(seed)
    chance.shuffle(order)
    verdicts: budget.Verdicts = {}
    choice = budget.Choice(budget.EXACT_ONLY)
    served, shadowed, judged = [], 0, 0
    for outcome in order:
        candidate = outcome.objection is None and outcome.distance <= ceiling
        hit = candidate and outcome.distance <= choice.threshold
        checked = candidate and (not hit or chance.random() < shadow_rate)
        served.append(hit and not checked)
        shadowed += hit and checked
        if checked:
            budget.add(verdicts, outcome.distance, outcome.duplicate)
            judged += 1
            choice = budget.choose(verdicts, share, ceiling)
    return Run(served, [o.duplicate for o in order], shadowed, judged, choice, budget.ladder(verdicts, ceiling))


def _wrong_share(result: Rates) -> str:
    served = result.hits + result.false_hits
    if not served:
        return "no semantic hits served"
    high = binomial.upper(result.false_hits, served, budget.CONFIDENCE)
    return (f"wrong hits {result.false_hits / served:6.2%} of {served} served (at most {high:.2%} with "
            f"{budget.CONFIDENCE:.0%} confidence)")


def _bound(step: budget.Choice) -> float:
    return binomial.upper(step.bad, step.evidence, budget.CONFIDENCE)


def _measured(step: budget.Choice) -> str:
    return (f"{step.threshold:.3f}: {step.bad} wrong of {step.evidence} ({step.bad / step.evidence:.2%}, at most "
            f"{_bound(step):.2%})")


def why(run: Run, share: float) -> str:
    """Whether the budget is out of the verdicts' reach or the order of testing kept a threshold they allow: the
    first threshold tested on the route's verdicts at the end, and the one with the lowest upper bound."""
    needed = budget.enough(share)
    tested = [step for step in run.ladder if step.evidence >= needed]
    if not tested:
        return f"    no threshold holds the {math.ceil(needed)} verdicts it needs to be tested"
    best = min(tested, key=_bound)
    if _bound(best) > share:
        outcome = "over the budget at every threshold"
    elif best.threshold <= run.final.threshold:
        outcome = "served: the threshold in force is at it or looser"
    else:
        outcome = "under the budget, but a stricter threshold failed first"
    return f"    tested first {_measured(tested[0])}; lowest bound {_measured(best)}: {outcome}"


def budget_report(outcomes: Sequence[Outcome], share: float, ceiling: float, *, shadow_rate: float,
                  seed: int = 0) -> list[str]:
    run = simulate(outcomes, share, ceiling, shadow_rate=shadow_rate, seed=seed)
    under = rates(run.served, run.duplicate)
    fixed = rates(served_at(outcomes, ceiling, verifier=True), [o.duplicate for o in outcomes])
    final = "exact only" if run.final.threshold < 0 else f"{run.final.threshold:.3f}"
    settled = rates(served_at(outcomes, run.final.threshold, verifier=True), [o.duplicate for o in outcomes])
    return [f"  budget {share:.2%} (stream of {len(outcomes)}, shadow rate {shadow_rate:.0%}, seed {seed}): "
            f"threshold at the end {final} on {run.final.evidence} verdicts ({run.verdicts} in all, "
            f"{run.shadowed} hits shadow-checked)",
            f"    served under the budget:     {_wrong_share(under)}",
            f"    {'':29s}{under}   recall cost {(fixed.recall - under.recall) * 100:.1f} points",
            f"    fixed threshold {ceiling:.2f}:       {_wrong_share(fixed)}",
            f"    {'':29s}{fixed}",
            f"    its end threshold, every pair: {_wrong_share(settled)}; recall {settled.recall:.1%}",
            why(run, share)]
