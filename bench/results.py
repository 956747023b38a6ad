"""What a run measured and what it means: per-round records, paired ratios, quartiles and the targets.

Pure logic, no Docker, unit-tested in test_bench_logic.py.

A comparison of our default (A) with another server (B) on one metric is made of pairs: in each round both
ran seconds apart in the same conditions (the servers' order alternates between rounds), so A's value over
B's in that round is one pair ratio. The comparison is the median of the pair ratios, and its spread their
interquartile range: noise that slows the whole machine for a minute moves both runs of a pair, not the
ratio. A round where either run failed, or was dropped for CPU used outside the benchmark, gives no pair.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from host import ProcessMemory
from load import Load
from plan import COLD_START_AT_MOST, MEMORY_AT_MOST, SIZE_AT_MOST, THROUGHPUT_AT_LEAST, ImagePlan

COLD_START = "cold start"
MEMORY = "idle memory"
PSS = "pss"  # CaseRun.memory_source: summed from /proc/<pid>/smaps_rollup
DOCKER_STATS = "docker stats"  # CaseRun.memory_source when PSS could not be read


@dataclass
class CaseRun:
    """One server in one container for one round: its cold start, idle memory and every wrk run."""

    image: str
    server: str  # Server.key
    round: int
    python: str  # "3.11"
    cold_start_s: float | None = None
    memory_bytes: int | None = None  # idle: PSS of all the container's processes (or docker stats, see source)
    memory_source: str = PSS
    processes: list[ProcessMemory] = field(default_factory=list)  # each process's PSS, when read
    loads: dict[str, Load] = field(default_factory=dict)  # cell key ("hello c64") -> run, dropped ones too
    dropped: list[str] = field(default_factory=list)  # cells whose run was dropped for CPU used outside
    failure: str | None = None  # why the server did not answer, with its last log lines

    def value(self, metric: str) -> float | None:
        """A metric by name: COLD_START, MEMORY or a throughput cell key (requests per second); None when
        not measured or dropped."""
        if metric == COLD_START:
            return self.cold_start_s
        if metric == MEMORY:
            return None if self.memory_bytes is None else float(self.memory_bytes)
        load = self.loads.get(metric)
        return None if load is None or metric in self.dropped else load.requests_per_s

    def to_json(self) -> dict[str, object]:
        return {
            "image": self.image, "server": self.server, "round": self.round, "python": self.python,
            "cold_start_s": self.cold_start_s, "memory_bytes": self.memory_bytes,
            "memory_source": self.memory_source,
            "processes": [vars(process) for process in self.processes],
            "loads": {cell: load.to_json() for cell, load in self.loads.items()},
            "dropped": self.dropped,
            "failure": self.failure,
        }


def is_dropped(outside_cpu_cores: float | None, limit: float) -> bool:
    """Whether a wrk run is left out because something else used the CPUs meanwhile. An unknown figure
    (the container's cgroup unreadable) keeps the run: the report says the figure is unknown."""
    return outside_cpu_cores is not None and outside_cpu_cores > limit


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("the median of no values")
    return float(statistics.median(values))


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """The 25th and 75th percentiles (linear between order statistics, as numpy's default); one value is
    both."""
    if not values:
        raise ValueError("the quartiles of no values")
    if len(values) == 1:
        return float(values[0]), float(values[0])
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return float(low), float(high)


def values_of(runs: Iterable[CaseRun], image: str, server: str, metric: str) -> list[float]:
    """Every round's value of one metric for one server, in round order (failed and dropped runs left out)."""
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


def pair_ratios(runs: Sequence[CaseRun], image: str, ours: str, theirs: str, metric: str) -> list[float]:
    """Ours over theirs, round by round, for the rounds where both have a value."""
    ours_by_round = {run.round: run.value(metric) for run in runs if run.image == image and run.server == ours}
    theirs_by_round = {run.round: run.value(metric) for run in runs if run.image == image and run.server == theirs}
    ratios = []
    for round_no in sorted(ours_by_round.keys() & theirs_by_round.keys()):
        mine, other = ours_by_round[round_no], theirs_by_round[round_no]
        if mine is not None and other:
            ratios.append(mine / other)
    return ratios


def dropped_count(runs: Iterable[CaseRun], image: str | None = None) -> tuple[int, int]:
    """(wrk runs dropped for CPU used outside the benchmark, wrk runs made), of one image or of all."""
    chosen = [run for run in runs if image is None or run.image == image]
    return sum(len(run.dropped) for run in chosen), sum(len(run.loads) for run in chosen)


PASS, TIE, MISS, NOT_MEASURED = "pass", "tie", "miss", "not measured"


@dataclass(frozen=True)
class Target:
    """One target of the issue: our default's paired ratios to one other server (or one size ratio) against
    a limit. The verdict needs the whole interquartile range of the ratios on one side of the limit."""

    image: str
    what: str  # "throughput hello c64"
    versus: str | None  # what ours is compared with (a server's label); None when nothing was measured
    ratios: tuple[float, ...]  # ours / theirs, one per pair
    limit: float
    at_least: bool  # True: higher is better (throughput); False: lower is better (times, memory, size)
    min_pairs: int = 1  # fewer pairs than this: the verdict is shown but flagged as not conclusive
    python: str = ""

    @property
    def pairs(self) -> int:
        return len(self.ratios)

    @property
    def ratio(self) -> float | None:
        """The median pair ratio."""
        return median(self.ratios) if self.ratios else None

    @property
    def quartiles(self) -> tuple[float, float] | None:
        return quartiles(self.ratios) if self.ratios else None

    @property
    def verdict(self) -> str:
        """PASS when the whole interquartile range is on the right side of the limit (on it counts as
        right), MISS when it is all on the wrong side, TIE when it straddles the limit."""
        if not self.ratios:
            return NOT_MEASURED
        low, high = quartiles(self.ratios)
        worst, best = (low, high) if self.at_least else (high, low)
        if self._within(worst):
            return PASS
        if not self._within(best):
            return MISS
        return TIE

    def _within(self, ratio: float) -> bool:
        return ratio >= self.limit if self.at_least else ratio <= self.limit

    @property
    def met(self) -> bool | None:
        """True on a pass, False on a miss, None on a tie or when not measured."""
        return {PASS: True, MISS: False}.get(self.verdict)

    @property
    def too_few_pairs(self) -> bool:
        return 0 < self.pairs < self.min_pairs

    def to_json(self) -> dict[str, object]:
        return {"image": self.image, "python": self.python, "what": self.what, "versus": self.versus,
                "limit": self.limit, "at_least": self.at_least, "median_ratio": self.ratio,
                "quartiles": self.quartiles, "pairs": self.pairs, "ratios": self.ratios, "verdict": self.verdict,
                "met": self.met, "too_few_pairs": self.too_few_pairs}


def against_best_other(runs: Sequence[CaseRun], plan: ImagePlan, metric: str, at_least: bool, ours: str = ""
                       ) -> tuple[str | None, list[float]]:
    """Our default (or the variant keyed `ours`) against the other server that beats it most: the competitor
    against which our median pair ratio is lowest (higher is better) or highest (lower is better). Returns
    its label and the pair ratios, or (None, []) when no other server gave a pair."""
    worst: tuple[float, str, list[float]] | None = None
    for server in plan.others:
        ratios = pair_ratios(runs, plan.image, ours or plan.default.key, server.key, metric)
        if not ratios:
            continue
        score = median(ratios) if at_least else -median(ratios)  # lower score: worse for us
        if worst is None or score < worst[0]:
            worst = (score, server.label, ratios)
    return (worst[1], worst[2]) if worst else (None, [])


def _target(runs: Sequence[CaseRun], plan: ImagePlan, what: str, metric: str, limit: float, at_least: bool,
            min_pairs: int, python: str, ours: str = "") -> Target:
    versus, ratios = against_best_other(runs, plan, metric, at_least, ours)
    return Target(plan.image, what, versus, tuple(ratios), limit, at_least, min_pairs, python)


def image_targets(runs: Sequence[CaseRun], plan: ImagePlan, cells: Sequence[str], min_pairs: int = 1,
                  python: str = "") -> list[Target]:
    """Throughput on every cell, cold start and idle memory, each against the best other server; then the
    idle memory of each of our variants (PRELOAD=1), which exist to lower it."""
    targets = [_target(runs, plan, f"throughput {cell}", cell, THROUGHPUT_AT_LEAST, True, min_pairs, python)
               for cell in cells]
    targets.append(_target(runs, plan, COLD_START, COLD_START, COLD_START_AT_MOST, False, min_pairs, python))
    targets.append(_target(runs, plan, "idle memory (PSS)", MEMORY, MEMORY_AT_MOST, False, min_pairs, python))
    for variant in plan.variants:
        targets.append(_target(runs, plan, f"idle memory (PSS), {plan.setting_of(variant)}", MEMORY,
                               MEMORY_AT_MOST, False, min_pairs, python, ours=variant.key))
    return targets


def size_target(image: str, size_bytes: int | None, minimal_bytes: int | None, python: str = "") -> Target:
    ratios = (size_bytes / minimal_bytes,) if size_bytes is not None and minimal_bytes else ()
    return Target(image, "image size", "minimal Dockerfile", ratios, SIZE_AT_MOST, at_least=False, python=python)


def all_targets(runs: Sequence[CaseRun], plans: Sequence[ImagePlan], cells: Sequence[str],
                sizes: Mapping[str, tuple[int | None, int | None]], python: str = "", min_pairs: int = 1
                ) -> list[Target]:
    """Every target of the issue for one Python, image by image (throughput per cell, cold start, memory,
    size), then the images measured for size only. `runs` may hold other Pythons' runs: they are left out."""
    runs = [run for run in runs if run.python == python]
    targets: list[Target] = []
    for plan in plans:
        targets += image_targets(runs, plan, cells, min_pairs, python)
        if plan.image in sizes:
            targets.append(size_target(plan.image, *sizes[plan.image], python=python))
    planned = {plan.image for plan in plans}
    for image, (size, minimal) in sizes.items():
        if image not in planned:
            targets.append(size_target(image, size, minimal, python=python))
    return targets


def verdict_counts(targets: Iterable[Target]) -> dict[str, int]:
    counts = {PASS: 0, TIE: 0, MISS: 0, NOT_MEASURED: 0}
    for target in targets:
        counts[target.verdict] += 1
    return counts
