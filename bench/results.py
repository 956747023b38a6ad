"""What a run measured and what it means: per-round records, medians, ratios to the best, and the targets.

Pure logic, no Docker, unit-tested in test_bench_logic.py.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from load import Load
from plan import COLD_START_AT_MOST, SIZE_AT_MOST, THROUGHPUT_AT_LEAST, ImagePlan

COLD_START = "cold start"
MEMORY = "idle memory"


@dataclass
class CaseRun:
    """One server in one container for one round: its cold start, idle memory and every wrk run."""

    image: str
    server: str  # Server.key
    round: int
    cold_start_s: float | None = None
    memory_bytes: int | None = None
    loads: dict[str, Load] = field(default_factory=dict)  # cell key ("hello c64") -> run
    failure: str | None = None  # why the server did not answer, with its last log lines

    def value(self, metric: str) -> float | None:
        """A metric by name: COLD_START, MEMORY or a throughput cell key (requests per second)."""
        if metric == COLD_START:
            return self.cold_start_s
        if metric == MEMORY:
            return None if self.memory_bytes is None else float(self.memory_bytes)
        load = self.loads.get(metric)
        return None if load is None else load.requests_per_s

    def to_json(self) -> dict[str, object]:
        return {
            "image": self.image, "server": self.server, "round": self.round,
            "cold_start_s": self.cold_start_s, "memory_bytes": self.memory_bytes,
            "loads": {cell: load.to_json() for cell, load in self.loads.items()},
            "failure": self.failure,
        }


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("the median of no values")
    return float(statistics.median(values))


def values_of(runs: Iterable[CaseRun], image: str, server: str, metric: str) -> list[float]:
    """Every round's value of one metric for one server, in round order (rounds that failed are left out)."""
    found = sorted((run.round, run.value(metric)) for run in runs
                   if run.image == image and run.server == server and run.value(metric) is not None)
    return [value for _, value in found]  # type: ignore[misc]


def median_of(runs: Iterable[CaseRun], image: str, server: str, metric: str) -> float | None:
    values = values_of(runs, image, server, metric)
    return median(values) if values else None


def ratios_to_best(values: Mapping[str, float | None], higher_is_better: bool) -> dict[str, float | None]:
    """Each value divided by the best one: 1.00 is the best; below 1 is worse for throughput, above 1 is
    worse for times and sizes. Missing values stay missing."""
    present = [value for value in values.values() if value is not None]
    best = (max if higher_is_better else min)(present) if present else None
    if not best:
        return {key: None for key in values}
    return {key: None if value is None else value / best for key, value in values.items()}


def round_ratios(runs: Sequence[CaseRun], image: str, ours: str, theirs: str, metric: str) -> list[float]:
    """Ours over theirs, round by round: the rounds are interleaved, so each pair ran side by side and
    the spread of these ratios shows how much the machine's noise moves the comparison."""
    ours_by_round = {run.round: run.value(metric) for run in runs if run.image == image and run.server == ours}
    theirs_by_round = {run.round: run.value(metric) for run in runs if run.image == image and run.server == theirs}
    ratios = []
    for round_no in sorted(ours_by_round.keys() & theirs_by_round.keys()):
        mine, other = ours_by_round[round_no], theirs_by_round[round_no]
        if mine is not None and other:
            ratios.append(mine / other)
    return ratios


@dataclass(frozen=True)
class Target:
    image: str
    what: str
    ratio: float | None  # ours / theirs (medians); None when either side was not measured
    limit: float
    at_least: bool  # True: met when ratio >= limit; False: met when ratio <= limit
    spread: tuple[float, ...] = ()  # per-round ratios, when the target has rounds

    @property
    def met(self) -> bool | None:
        if self.ratio is None:
            return None
        return self.ratio >= self.limit if self.at_least else self.ratio <= self.limit

    @property
    def margin(self) -> float | None:
        """How far past the limit, as a fraction of it: positive when met, negative when missed."""
        if self.ratio is None:
            return None
        return (self.ratio - self.limit) / self.limit * (1 if self.at_least else -1)


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours is not None and theirs else None


def throughput_targets(runs: Sequence[CaseRun], plan: ImagePlan, cells: Sequence[str]) -> list[Target]:
    bare = plan.server(plan.bare)
    return [
        Target(plan.image, f"throughput {cell} vs {bare.label}",
               _ratio(median_of(runs, plan.image, plan.default.key, cell), median_of(runs, plan.image, bare.key, cell)),
               THROUGHPUT_AT_LEAST, at_least=True,
               spread=tuple(round_ratios(runs, plan.image, plan.default.key, bare.key, cell)))
        for cell in cells
    ]


def cold_start_target(runs: Sequence[CaseRun], plan: ImagePlan) -> Target:
    bare = plan.server(plan.bare)
    ours = median_of(runs, plan.image, plan.default.key, COLD_START)
    theirs = median_of(runs, plan.image, bare.key, COLD_START)
    return Target(plan.image, f"cold start vs {bare.label}", _ratio(ours, theirs), COLD_START_AT_MOST,
                  at_least=False, spread=tuple(round_ratios(runs, plan.image, plan.default.key, bare.key, COLD_START)))


def size_target(image: str, size_bytes: int | None, minimal_bytes: int | None) -> Target:
    return Target(image, "image size vs minimal Dockerfile", _ratio(size_bytes, minimal_bytes), SIZE_AT_MOST,
                  at_least=False)


def all_targets(runs: Sequence[CaseRun], plans: Sequence[ImagePlan], cells: Sequence[str],
                sizes: Mapping[str, tuple[int | None, int | None]]) -> list[Target]:
    """Every target of the issue, image by image: throughput per cell, cold start, then size."""
    targets: list[Target] = []
    for plan in plans:
        targets += throughput_targets(runs, plan, cells)
        targets.append(cold_start_target(runs, plan))
        if plan.image in sizes:
            targets.append(size_target(plan.image, *sizes[plan.image]))
    planned = {plan.image for plan in plans}
    for image, (size, minimal) in sizes.items():
        if image not in planned:
            targets.append(size_target(image, size, minimal))
    return targets
