"""Turning results into what people read: the markdown tables (pasted into the README) and the PNG chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from plan import WORKERS, ImagePlan, Settings
from results import COLD_START, MEMORY, CaseRun, Target, median_of, ratios_to_best, values_of


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
    python: str
    minutes: float
    via: str  # how wrk reached the server: "netns" or "published" (bench/load.py)
    load_before: float  # the machine's 1-minute load average when the rounds began (idle: near 0)


VIA = {
    "netns": "against 127.0.0.1:80 inside the container's network namespace (wrk under `nsenter --net`, "
             "so Docker's port proxy is not in the path)",
    "published": "against the container's port published on 127.0.0.1 (through Docker's port proxy, which "
                 "costs as much CPU as a fast server and squeezes the ratios towards 1)",
}


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


def format_spread(ratios: Sequence[float]) -> str:
    if len(ratios) < 2:
        return "–"
    return f"{min(ratios):.2f}–{max(ratios):.2f}×"


def format_result(target: Target) -> str:
    if target.met is None:
        return "not measured"
    return "pass" if target.met else "**MISS**"


def format_limit(target: Target) -> str:
    return f"{'≥' if target.at_least else '≤'} {target.limit:.2f}×"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> list[str]:
    """A GitHub table; columns from `right_from` on are right-aligned (numbers)."""
    align = ["---" if index < right_from else "---:" for index in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _cell(value: float | None, ratio: float | None, format_value) -> str:  # noqa: ANN001 (a formatter)
    if value is None:
        return "failed"
    return f"{format_value(value)} ({format_ratio(ratio)})"


def image_table(runs: Sequence[CaseRun], plan: ImagePlan, cells: Sequence[str]) -> list[str]:
    """One image's servers, one column per throughput cell plus cold start and idle memory; each value with
    its ratio to the best in its column. Our default is the first row, in bold."""
    columns = [*cells, COLD_START, MEMORY]
    formats = {COLD_START: format_seconds, MEMORY: format_mib}
    rows_by_server: dict[str, list[str]] = {server.key: [] for server in plan.servers}
    for column in columns:
        medians = {server.key: median_of(runs, plan.image, server.key, column) for server in plan.servers}
        ratios = ratios_to_best(medians, higher_is_better=column not in formats)
        for key, value in medians.items():
            rows_by_server[key].append(_cell(value, ratios[key], formats.get(column, format_rps)))
    rows = []
    for server in plan.servers:
        label = f"**{server.label}**" if server is plan.default else server.label
        rows.append([label, *rows_by_server[server.key]])
    header = ["server", *[f"{column} (req/s)" for column in cells], COLD_START, MEMORY]
    return markdown_table(header, rows)


def targets_table(targets: Sequence[Target]) -> list[str]:
    rows = [[target.image, target.what, format_ratio(target.ratio), format_spread(target.spread),
             format_limit(target), format_result(target)] for target in targets]
    return markdown_table(["image", "target", "measured", "per round", "limit", "result"], rows, right_from=2)


def sizes_table(sizes: Mapping[str, tuple[int | None, int | None]], org: str, python: str) -> list[str]:
    rows = []
    for image, (size, minimal) in sizes.items():
        ratio = size / minimal if size and minimal else None
        rows.append([f"{org}/{image}:py{python}", format_mb(size) if size else "–",
                     format_mb(minimal) if minimal else "–", format_ratio(ratio)])
    return markdown_table(["image", "size", "minimal Dockerfile, same packages", "ratio"], rows)


def render_markdown(info: RunInfo, settings: Settings, plans: Sequence[ImagePlan], cells: Sequence[str],
                    runs: Sequence[CaseRun], sizes: Mapping[str, tuple[int | None, int | None]],
                    targets: Sequence[Target], org: str = "org") -> str:
    met = sum(1 for target in targets if target.met)
    rounds = "one round" if settings.rounds == 1 else f"medians of {settings.rounds} interleaved rounds"
    lines = [
        f"Measured {info.date} on {info.cpus} × {info.cpu_model} (Linux {info.kernel}, Docker {info.docker}), "
        f"Python {info.python}, revision {info.revision}; the run took {info.minutes:.0f} min; load average "
        f"{info.load_before:.2f} when the rounds began.",
        "",
        f"Every server runs {WORKERS} workers with no access log, in the "
        "same container image (the image under test plus uWSGI and Granian, pinned in `bench/requirements.txt`) "
        "serving the same app. Load: "
        f"{info.wrk}, {settings.wrk_threads} thread, {settings.duration_s} s per run, {VIA[info.via]}; "
        f"{rounds} (A B C A B C …), a fresh container per server and round. Cold start: from `docker run` to "
        "the first 200, polled. Idle memory: what `docker stats` shows, after the first 200 and a settling "
        f"{settings.settle_s:.0f} s. Each value is followed by its ratio to the best in its "
        "column (throughput: higher is better; cold start and memory: lower is better). Load generator and "
        "servers share the machine, so only ratios mean anything.",
    ]
    if settings.smoke:
        lines += ["", "**Smoke run** (`--smoke`): seconds per case, for catching breakage only; do not compare."]
    lines += ["", "### Targets", "", *targets_table(targets), "",
              f"**{met} of {len(targets)} targets met.**"]
    for plan in plans:
        lines += ["", f"### {org}/{plan.image}:py{info.python} — {plan.framework}", "",
                  *image_table(runs, plan, cells)]
    lines += ["", "### Image size", "", *sizes_table(sizes, org, info.python), "",
              "The minimal Dockerfile (`bench/docker/minimal*.Dockerfile`) installs the same pinned packages "
              "(and, for flask, the same patched Meinheld) into a virtualenv on the same slim Python image."]
    failures = [run for run in runs if run.failure]
    if failures:
        lines += ["", "### Failures", ""]
        lines += [f"- {run.image} / {run.server} / round {run.round}: {run.failure.splitlines()[0]}"
                  for run in failures]
    lines += ["", "### Servers", ""]
    for plan in plans:
        lines += [f"- **{plan.image}**: " + "; ".join(f"{server.label}: `{server.shown_command}`"
                                                      for server in plan.servers)]
    lines += ["", "Rerun: `make bench` (about 20 minutes; `make bench-smoke` for the quick check).", ""]
    return "\n".join(lines)


def render_chart(path: Path, plans: Sequence[ImagePlan], cells: Sequence[str], runs: Sequence[CaseRun],
                 title: str) -> None:
    """Requests per second, one panel per image, one bar per server and cell; whiskers span the rounds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(plans), 1, figsize=(11, 3.2 * len(plans) + 0.6), squeeze=False)
    height = 0.8 / max(len(cells), 1)
    for axis, plan in zip(axes[:, 0], plans):
        labels = [server.label for server in plan.servers]
        for index, cell in enumerate(cells):
            medians, lows, highs = [], [], []
            for server in plan.servers:
                values = values_of(runs, plan.image, server.key, cell)
                middle = median_of(runs, plan.image, server.key, cell) or 0.0
                medians.append(middle)
                lows.append(middle - min(values) if values else 0.0)
                highs.append(max(values) - middle if values else 0.0)
            positions = [row + (index - (len(cells) - 1) / 2) * height for row in range(len(labels))]
            axis.barh(positions, medians, height=height, xerr=[lows, highs], capsize=2, label=cell)
        axis.set_yticks(range(len(labels)), labels)
        axis.invert_yaxis()
        axis.set_title(f"{plan.image} ({plan.framework})", loc="left", fontsize=11)
        axis.set_xlabel("requests per second")
        axis.grid(axis="x", alpha=0.3)
    handles, names = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, names, loc="upper center", ncol=len(cells), fontsize=8, bbox_to_anchor=(0.5, 0.975))
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.96))
    figure.savefig(path, dpi=110)
    plt.close(figure)
