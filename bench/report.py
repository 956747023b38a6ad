"""Turning results into what people read: the markdown tables (pasted into the README) and the PNG chart."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from plan import (
    BARE_USER, COLD_START_AT_MOST, MEMORY_AT_MOST, SIZE_AT_MOST, THROUGHPUT_AT_LEAST, WORKERS, ImagePlan, Settings,
)
from results import (
    COLD_START, MEMORY, MISS, NOT_MEASURED, PASS, PSS, TIE, CaseRun, Target, dropped_count, median, median_of,
    pair_ratios, ratios_to_best, values_of, verdict_counts,
)


@dataclass(frozen=True)
class RunInfo:
    """Where and how the numbers were taken, printed above the tables."""

    date: str
    cpus: int
    cpu_model: str
    kernel: str
    docker: str
    wrk: str
    revision: str
    pythons: tuple[str, ...]
    minutes: float
    via: str  # how wrk reached the server: "netns" or "published" (bench/load.py)
    load_before: float  # the machine's 1-minute load average when the rounds began (idle: near 0)


VIA = {
    "netns": "against 127.0.0.1:80 inside the container's network namespace (wrk under `nsenter --net`, "
             "so Docker's port proxy is not in the path)",
    "published": "against the container's port published on 127.0.0.1 (through Docker's port proxy, which "
                 "costs as much CPU as a fast server and squeezes the ratios towards 1)",
}
SHOWN_VERDICT = {PASS: "pass", TIE: "tie", MISS: "**MISS**", NOT_MEASURED: "not measured"}
FALLBACK_MARK = "†"  # a memory figure from docker stats, where PSS could not be read


def format_rps(value: float) -> str:
    return f"{value:,.0f}"


def format_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def format_seconds(value: float) -> str:
    return f"{value:.2f} s"


def format_mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def format_mb(value: float) -> str:
    return f"{value / 1e6:.0f} MB"  # the unit `docker images` shows


def format_quartiles(target: Target) -> str:
    """The interquartile range of the pair ratios; a single measurement has none."""
    if target.pairs < 2 or target.quartiles is None:
        return "–"
    low, high = target.quartiles
    return f"{low:.2f}–{high:.2f}×"


def format_verdict(target: Target) -> str:
    shown = SHOWN_VERDICT[target.verdict]
    return f"{shown} (n < {target.min_pairs})" if target.too_few_pairs else shown


def format_limit(target: Target) -> str:
    return f"{'≥' if target.at_least else '≤'} {target.limit:.2f}×"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> list[str]:
    """A GitHub table; columns from `right_from` on are right-aligned (numbers)."""
    align = ["---" if index < right_from else "---:" for index in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _cell(value: float | None, ratio: float | None, format_value: Callable[[float], str], why_missing: str) -> str:
    if value is None:
        return why_missing
    return f"{format_value(value)} ({format_ratio(ratio)})"


def _why_missing(runs: Sequence[CaseRun], plan: ImagePlan, server: str, metric: str) -> str:
    if metric not in (COLD_START, MEMORY) and not plan.server(server).throughput:
        return "–"  # not measured: it serves requests exactly as our default does
    mine = [run for run in runs if run.image == plan.image and run.server == server]
    return "dropped" if any(metric in run.dropped for run in mine) else "failed"


def image_table(runs: Sequence[CaseRun], plan: ImagePlan, cells: Sequence[str]) -> list[str]:
    """One image's servers on one Python, one column per throughput cell plus cold start and idle memory;
    each value (the median of the kept runs) with its ratio to the best in its column. Our default is the
    first row, in bold."""
    columns = [*cells, COLD_START, MEMORY]
    formats = {COLD_START: format_seconds, MEMORY: format_mib}
    rows_by_server: dict[str, list[str]] = {server.key: [] for server in plan.servers}
    for column in columns:
        medians = {server.key: median_of(runs, plan.image, server.key, column) for server in plan.servers}
        ratios = ratios_to_best(medians, higher_is_better=column not in formats)
        for key, value in medians.items():
            shown = _cell(value, ratios[key], formats.get(column, format_rps),
                          _why_missing(runs, plan, key, column))
            if column == MEMORY and any(run.memory_source != PSS for run in runs
                                        if run.image == plan.image and run.server == key and run.memory_bytes):
                shown += " " + FALLBACK_MARK
            rows_by_server[key].append(shown)
    rows = []
    for server in plan.servers:
        label = f"**{server.label}**" if server is plan.default else server.label
        rows.append([label, *rows_by_server[server.key]])
    header = ["server", *[f"{column} (req/s)" for column in cells], COLD_START, "idle memory (PSS)"]
    return markdown_table(header, rows)


def layer_cost(runs: Sequence[CaseRun], plan: ImagePlan, cells: Sequence[str]) -> str:
    """Our default against the bare server it wraps, as median pair ratios: what our layer costs."""
    bare = plan.server(plan.bare)
    parts = []
    for metric in [*cells, COLD_START, MEMORY]:
        ratios = pair_ratios(runs, plan.image, plan.default.key, bare.key, metric)
        if ratios:
            parts.append(f"{metric} {format_ratio(median(ratios))}")
    shown = ", ".join(parts) if parts else "no pairs"
    return f"What our layer costs: our default over the server it wraps ({bare.label}), median pair ratios: {shown}."


def own_comparisons(runs: Sequence[CaseRun], plan: ImagePlan) -> list[str]:
    """Our default against each of our configurations shown for comparison only (e.g. before a change)."""
    lines = []
    for server in plan.servers:
        if not server.ours or server.judged:
            continue
        parts = []
        for metric in (COLD_START, MEMORY):
            ratios = pair_ratios(runs, plan.image, plan.default.key, server.key, metric)
            if ratios:
                spread = format_quartiles(Target(plan.image, metric, server.label, tuple(ratios), 1.0, at_least=False))
                parts.append(f"{metric} {format_ratio(median(ratios))} (IQR {spread}, n {len(ratios)})")
        lines += ["", f"Our default over {server.label}, median pair ratios: {', '.join(parts) or 'no pairs'}."]
    return lines


def targets_table(targets: Sequence[Target]) -> list[str]:
    rows = [[target.image, target.what, target.versus or "–", format_ratio(target.ratio), format_quartiles(target),
             str(target.pairs), format_limit(target), format_verdict(target)] for target in targets]
    header = ["image", "target", "against", "median ratio", "IQR (q25–q75)", "n pairs", "limit", "verdict"]
    return markdown_table(header, rows, right_from=3)


def verdict_line(targets: Sequence[Target], min_pairs: int) -> str:
    counts = verdict_counts(targets)
    line = f"**{counts[PASS]} pass, {counts[TIE]} tie, {counts[MISS]} miss**"
    if counts[NOT_MEASURED]:
        line += f", {counts[NOT_MEASURED]} not measured"
    line += f" (of {len(targets)} targets)"
    too_few = sum(1 for target in targets if target.too_few_pairs)
    if too_few:
        line += f"; {too_few} rest on fewer than {min_pairs} pairs and are not conclusive"
    return line + "."


def dropped_line(runs: Sequence[CaseRun], plans: Sequence[ImagePlan], limit: float) -> str:
    parts = []
    for plan in plans:
        dropped, made = dropped_count(runs, plan.image)
        parts.append(f"{plan.image} {dropped} of {made}")
    dropped, made = dropped_count(runs)
    return (f"wrk runs dropped for CPU used outside the benchmark (above {limit:.2f} cores): "
            f"{', '.join(parts)}; {dropped} of {made} in all.")


def sizes_table(sizes: Mapping[str, tuple[int | None, int | None]], org: str, python: str) -> list[str]:
    rows = []
    for image, (size, minimal) in sizes.items():
        ratio = size / minimal if size and minimal else None
        rows.append([f"{org}/{image}:py{python}", format_mb(size) if size else "–",
                     format_mb(minimal) if minimal else "–", format_ratio(ratio)])
    return markdown_table(["image", "size", "minimal Dockerfile, same packages", "ratio"], rows)


def method(info: RunInfo, settings: Settings, runs: Sequence[CaseRun]) -> list[str]:
    """The paragraphs above the tables: how every number below was taken and judged."""
    dropped, made = dropped_count(runs)
    unknown = sum(1 for run in runs for load in run.loads.values() if load.outside_cpu_cores is None)
    fallbacks = sum(1 for run in runs if run.memory_bytes is not None and run.memory_source != PSS)
    rounds = ("one round" if settings.rounds == 1 else
              f"{settings.rounds} rounds; odd rounds start and measure an image's servers in the planned order "
              "(A B C), even rounds in reverse (C B A), so in every pair of servers each goes first in half the "
              "rounds")
    outside = (f"During every wrk run, the CPU used outside the benchmark is the host's busy time (`/proc/stat`) "
               "minus the measured container's (its cgroup) and wrk's own (and Docker's port proxy's, when it is in "
               f"the path), per second; a run above {settings.outside_cpu_limit:.2f} cores is dropped, its value "
               f"unused: **{dropped} of {made} runs were dropped** (per image below).")
    if unknown:
        outside += f" For {unknown} runs the container's cgroup could not be read; they were kept."
    memory = (f"Idle memory: the PSS (`/proc/<pid>/smaps_rollup`) of all the container's processes (master, "
              f"workers, any helper), after the first 200 and a settling {settings.settle_s:.0f} s.")
    if fallbacks:
        memory += (f" {FALLBACK_MARK} For {fallbacks} server runs PSS could not be read and the figure is what "
                   "`docker stats` shows instead.")
    return [
        f"Measured {info.date} on {info.cpus} × {info.cpu_model} (Linux {info.kernel}, Docker {info.docker}), "
        f"Python {' and '.join(info.pythons)}, revision {info.revision}; the run took {info.minutes:.0f} min; load "
        f"average {info.load_before:.2f} when the rounds began.",
        "",
        f"Every server runs {WORKERS} workers with no access log, in the same container image (the image under test "
        "plus uWSGI and Granian, pinned in `bench/requirements.txt`) serving the same app; the other servers run "
        f"as `--user {BARE_USER}`, the account our default's workers switch to. Load: "
        f"{info.wrk}, {settings.wrk_threads} thread, {settings.duration_s} s per run, {VIA[info.via]}. "
        f"{rounds}. In a round every server gets a fresh container (its image's HEALTHCHECK off, so no periodic "
        "process lands in a measurement); they start one after the other, then each "
        "throughput cell (endpoint and connections) is measured on every server back to back. Cold start: from "
        f"`docker run` to the first 200, polled. {memory}",
        "",
        f"{outside}",
        "",
        f"Targets: our default's throughput ≥ {THROUGHPUT_AT_LEAST:.2f}×, cold start ≤ {COLD_START_AT_MOST:.2f}× "
        f"and idle memory ≤ {MEMORY_AT_MOST:.2f}× the other server that beats it most in the same run (the one "
        "against which the median of its pair ratios is worst, named in the table; our PRELOAD=1 row, measured "
        "for cold start and memory only, is judged on memory the same way and is nobody's competitor; the "
        "PRELOAD_MODULES='' row, our default before its master imported the framework for the workers, is shown "
        "for comparison only); image size ≤ "
        f"{SIZE_AT_MOST:.2f}× a minimal Dockerfile's. A pair is the two servers' values in the same round; a "
        "round where either run failed or was dropped gives none. Each target shows the median of the pair "
        "ratios, their interquartile range (q25–q75) and the number of pairs n; it is a **pass** when the whole "
        "range is on the right side of the limit, a **MISS** when it is all on the wrong side, and a **tie** "
        f"when it straddles the limit. Fewer than {settings.min_pairs} pairs are flagged as not conclusive. The "
        "server tables show each server's median over the kept runs and its ratio to the best in its column "
        "(throughput: higher is better; cold start and memory: lower is better). Load generator and servers share "
        "the machine, so only ratios mean anything.",
    ]


def python_section(python: str, settings: Settings, plans: Sequence[ImagePlan], cells: Sequence[str],
                   runs: Sequence[CaseRun], sizes: Mapping[str, tuple[int | None, int | None]],
                   targets: Sequence[Target], org: str) -> list[str]:
    runs = [run for run in runs if run.python == python]
    targets = [target for target in targets if target.python == python]
    lines = [f"### Python {python}", "", "#### Targets", "", *targets_table(targets), "",
             verdict_line(targets, settings.min_pairs), "", dropped_line(runs, plans, settings.outside_cpu_limit)]
    for plan in plans:
        lines += ["", f"#### {org}/{plan.image}:py{python} — {plan.framework}", "", *image_table(runs, plan, cells),
                  "", layer_cost(runs, plan, cells), *own_comparisons(runs, plan)]
    lines += ["", f"#### Image size, Python {python}", "", *sizes_table(sizes, org, python)]
    return lines


def render_markdown(info: RunInfo, settings: Settings, plans: Sequence[ImagePlan], cells: Sequence[str],
                    runs: Sequence[CaseRun], sizes: Mapping[str, Mapping[str, tuple[int | None, int | None]]],
                    targets: Sequence[Target], org: str = "org") -> str:
    """The whole report; `sizes` per Python, `runs` and `targets` of every Python of the run."""
    lines = method(info, settings, runs)
    if settings.smoke:
        lines += ["", "**Smoke run** (`--smoke`): seconds per case, for catching breakage only; do not compare."]
    if len(settings.pythons) > 1:
        lines += ["", f"All Pythons: {verdict_line(targets, settings.min_pairs)}"]
    for python in settings.pythons:
        lines += ["", *python_section(python, settings, plans, cells, runs, sizes.get(python, {}), targets, org)]
    lines += ["", "The minimal Dockerfile (`bench/docker/minimal*.Dockerfile`) installs the same pinned packages "
              "(and, for flask, the same patched Meinheld) into a virtualenv on the same slim Python image."]
    failures = [run for run in runs if run.failure]
    if failures:
        lines += ["", "### Failures", ""]
        lines += [f"- {run.image} / py{run.python} / {run.server} / round {run.round}: "
                  f"{(run.failure or '').splitlines()[0]}" for run in failures]
    lines += ["", "### Servers", ""]
    for plan in plans:
        lines += [f"- **{plan.image}**: " + "; ".join(f"{server.label}: `{server.shown_command}`"
                                                      for server in plan.servers)]
    lines += ["", "Rerun: `make bench` (about an hour; `make bench-smoke` for the quick check).", ""]
    return "\n".join(lines)


def render_chart(path: Path, plans: Sequence[ImagePlan], pythons: Sequence[str], cells: Sequence[str],
                 runs: Sequence[CaseRun], title: str) -> None:
    """Requests per second, one panel per Python and image, one bar per server and cell (the median of the
    kept runs); whiskers span the rounds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(python, plan) for python in pythons for plan in plans]
    figure, axes = plt.subplots(len(panels), 1, figsize=(11, 3.2 * len(panels) + 0.6), squeeze=False)
    height = 0.8 / max(len(cells), 1)
    for axis, (python, plan) in zip(axes[:, 0], panels):
        python_runs = [run for run in runs if run.python == python]
        measured = [server for server in plan.servers if server.throughput]
        labels = [server.label for server in measured]
        for index, cell in enumerate(cells):
            medians, lows, highs = [], [], []
            for server in measured:
                values = values_of(python_runs, plan.image, server.key, cell)
                middle = median_of(python_runs, plan.image, server.key, cell) or 0.0
                medians.append(middle)
                lows.append(middle - min(values) if values else 0.0)
                highs.append(max(values) - middle if values else 0.0)
            positions = [row + (index - (len(cells) - 1) / 2) * height for row in range(len(labels))]
            axis.barh(positions, medians, height=height, xerr=[lows, highs], capsize=2, label=cell)
        axis.set_yticks(range(len(labels)), labels)
        axis.invert_yaxis()
        axis.set_title(f"{plan.image} ({plan.framework}), Python {python}", loc="left", fontsize=11)
        axis.set_xlabel("requests per second")
        axis.grid(axis="x", alpha=0.3)
    handles, names = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, names, loc="upper center", ncol=len(cells), fontsize=8, bbox_to_anchor=(0.5, 0.975))
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.96))
    figure.savefig(path, dpi=110)
    plt.close(figure)
