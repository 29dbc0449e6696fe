"""How much the benchmark measures: the full run and the quick smoke run."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Plan:
    repeats: int  # passes over the 20 cached questions per request class at concurrency 1
    misses: int  # misses (and streamed misses) at concurrency 1
    load_secs: int  # length of each wrk run
    concurrency: tuple[int, ...]
    workers: int
    with_litellm: bool
    upstream_secs: float = 0.3  # the fake upstream's chat latency, as in the peers' published comparison
    api_rounds: int = 3  # turns the APIs take at each measurement of bench/apis.py (an API's figure: the median)
    api_load_secs: int = 1  # each wrk run of bench/apis.py (run `api_rounds` times per API)
    # Passes over the 20 questions per API and round at concurrency 1 in bench/apis.py: a p50 of 60 samples moves
    # by several percent between runs, more than the differences between APIs it shows; one of 300 does not.
    api_repeats: int = 10

    def steps(self, workloads: int) -> int:
        """Progress-bar steps: the floor, then per service start-up, 6 probes and the load grid."""
        per_service = 1 + 6 + workloads * len(self.concurrency)
        return 1 + len(self.concurrency) + per_service * (2 if self.with_litellm else 1)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


FULL = Plan(repeats=10, misses=30, load_secs=4, concurrency=(1, 4, 16, 64), workers=2, with_litellm=True,
            api_load_secs=2)
# Eleven rounds: on this machine one 1-second run's hits/s moves by about 5 % from the next whatever the API, so one
# round's ratio of two APIs' by up to 10 % either way, the median of eleven rounds' by about 3 %.
QUICK = Plan(repeats=1, misses=3, load_secs=1, concurrency=(1, 16), workers=1, with_litellm=False, api_rounds=11,
             api_repeats=2)
# The test suite's run, that keeps every part of the benchmark working: the figures it gives mean little.
SMOKE = dataclasses.replace(QUICK, api_rounds=3, api_repeats=1)
