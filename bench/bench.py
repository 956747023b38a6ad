"""The benchmark of the image family: each image's default configuration against the servers its users
would pick instead, same app, same container image, same worker count.

    .venv/bin/python bench/bench.py           # make bench: full run (about an hour on 2 cores)
    .venv/bin/python bench/bench.py --smoke   # make bench-smoke (CI): seconds per case, one round

A run: build the images under test for each Python of the run (tools/build.py, all cache when nothing
changed), a bench image FROM each and a minimal same-packages image for the size comparison; then round
after round, for each Python and image, start every server in a fresh container (A B C, then C B A in
the next round), measure its cold start and idle memory (PSS), then each throughput cell with wrk on
127.0.0.1 on every server back to back in the same order, noting the CPU used outside the benchmark during
each wrk run; then write bench/results/latest.{md,png,json} and print the tables. Each comparison is the
median of the paired ratios of the rounds (see results.py).

Exit status: 1 when a build fails or a server does not answer (the smoke check's purpose); missed
performance targets, and comparisons resting on fewer pairs than asked, are reported, and fail the run
only with --strict.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import docker

import images
from load import netns_usable
from plan import ENDPOINTS, FULL, PLANS, SIZE_ONLY, SMOKE, ImagePlan, Settings, cells, server_order
from report import RunInfo, render_chart, render_markdown
from results import PSS, CaseRun, Target, all_targets
from runner import ServerRun, remove_run_containers

RESULTS = Path(__file__).resolve().parent / "results"
# Per server and round, on top of the sleeps and wrk runs: the container's start to its first 200, the
# memory reading, wrk starting up and the removal. For the time estimate only: a 2-round starlette run on
# 2 busy cores took 8.1 s per server and round with 1 s wrk runs, 8 s by this estimate.
CASE_OVERHEAD_S = 2
Sizes = dict[str, dict[str, tuple[int | None, int | None]]]  # Python -> image -> (image, minimal) bytes
BUSY_LOAD = 1.0  # a 1-minute load average above this before the rounds means something else is running


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a quick check that every server answers (CI)")
    parser.add_argument("--images", nargs="+", choices=[plan.image for plan in PLANS], help="only these images")
    parser.add_argument("--rounds", type=int, help=f"rounds of every server, one A/B pair each (full: {FULL.rounds})")
    parser.add_argument("--duration", type=int, help=f"seconds per wrk run (full: {FULL.duration_s})")
    parser.add_argument("--concurrency", type=int, action="append", help="wrk connections (repeatable; full: 64 256)")
    parser.add_argument("--python", action="append", choices=images.project.PYTHONS,
                        help="a Python to measure on (repeatable; full: " + " and ".join(FULL.pythons)
                        + f"; smoke: {SMOKE.pythons[0]})")
    parser.add_argument("--outside-cpu-limit", type=float, metavar="CORES",
                        help="drop a wrk run when the CPU used outside the benchmark meanwhile is above this many "
                        f"cores (default {FULL.outside_cpu_limit})")
    parser.add_argument("--no-build", action="store_true",
                        help="use the family images as they are instead of running tools/build.py first")
    parser.add_argument("--via", choices=["auto", "netns", "published"], default="auto",
                        help="how wrk reaches 127.0.0.1 (see bench/load.py); auto: netns when allowed (root)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a performance target is missed")
    parser.add_argument("--output", type=Path, help="where to write <name>.md/.png/.json "
                        "(default: bench/results, smoke runs: bench/results/tmp)")
    return parser.parse_args(argv)


def settings_from(options: argparse.Namespace) -> Settings:
    settings = SMOKE if options.smoke else FULL
    changes: dict[str, Any] = {}  # Settings fields by name, as dataclasses.replace takes them
    if options.rounds:
        changes["rounds"] = options.rounds
    if options.duration:
        changes["duration_s"] = options.duration
    if options.concurrency:
        changes["concurrencies"] = tuple(options.concurrency)
    if options.python:
        changes["pythons"] = tuple(dict.fromkeys(options.python))
    if options.outside_cpu_limit is not None:
        changes["outside_cpu_limit"] = options.outside_cpu_limit
    return dataclasses.replace(settings, **changes)


def _command_output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run_info(client: docker.DockerClient, settings: Settings, minutes: float, in_netns: bool,
             load_before: float) -> RunInfo:
    wrk = _command_output(["wrk", "-v"]).splitlines()
    return RunInfo(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cpus=len(os.sched_getaffinity(0)),  # what `nproc` prints
        cpu_model=cpu_model(),
        kernel=platform.release(),
        docker=str(client.version().get("Version", "unknown")),
        wrk=wrk[0].split("[")[0].strip() if wrk else "wrk",
        revision=_command_output(["git", "-C", str(images.ROOT), "describe", "--always", "--dirty"]),
        pythons=settings.pythons,
        minutes=minutes,
        via="netns" if in_netns else "published",
        load_before=load_before,
    )


def build_everything(client: docker.DockerClient, plans: list[ImagePlan], size_images: list[str],
                     pythons: tuple[str, ...], build_family: bool) -> tuple[dict[tuple[str, str], str], Sizes]:
    """Build what the run needs; returns the bench image per (Python, image) and the sizes per Python."""
    family = list(dict.fromkeys([plan.image for plan in plans] + size_images))
    if build_family:
        images.build_family(family, list(pythons))
    images.require_family(client, family, list(pythons))
    bench_refs: dict[tuple[str, str], str] = {}
    sizes: Sizes = {}
    for python in pythons:
        bases = images.python_images(python)
        print(f"Python {python} images: {bases.slim} (final stages), {bases.full} (compiling)", flush=True)
        for plan in plans:
            bench_refs[python, plan.image] = images.build_bench_image(client, plan.image, python, bases)
        sizes[python] = {}
        for image in family:
            minimal = images.build_minimal_image(client, image, python, bases)
            sizes[python][image] = (images.image_size(client, images.family_ref(image, python)),
                                    images.image_size(client, minimal))
    return bench_refs, sizes


def _outside(load_outside: float | None) -> str:
    return "outside ?" if load_outside is None else f"outside {load_outside:.2f}"


def _progress(case: CaseRun) -> str:
    if case.failure:
        return "FAILED: " + case.failure
    parts = [f"cold start {case.cold_start_s:.2f} s"]
    if case.memory_bytes is not None:
        source = "PSS" if case.memory_source == PSS else case.memory_source
        parts.append(f"{case.memory_bytes / 2**20:.1f} MiB ({source})")
    parts += [f"{cell} {load.requests_per_s:,.0f}/s ({_outside(load.outside_cpu_cores)}"
              f"{', dropped' if cell in case.dropped else ''})" for cell, load in case.loads.items()]
    return ", ".join(parts)


def run_rounds(client: docker.DockerClient, plans: list[ImagePlan], bench_refs: dict[tuple[str, str], str],
               settings: Settings, run_id: str, in_netns: bool) -> list[CaseRun]:
    """Round after round, Python after Python, image after image: start each server in a fresh container,
    one after the other (cold start, idle memory), then measure each throughput cell on every server back
    to back, so the servers compared in a cell ran seconds apart, not minutes. Odd rounds go A B C, even
    ones C B A (plan.server_order), so in every pair each server goes first half of the time."""
    runs: list[CaseRun] = []
    for round_no in range(1, settings.rounds + 1):
        for python in settings.pythons:
            for plan in plans:
                order = server_order(plan.servers, round_no)
                with contextlib.ExitStack() as stack:
                    servers = [stack.enter_context(ServerRun(client, bench_refs[python, plan.image], plan.image,
                                                             python, server, settings, round_no, run_id, in_netns))
                               for server in order]
                    for endpoint in ENDPOINTS:
                        for concurrency in settings.concurrencies:
                            for server in servers:
                                server.measure(endpoint, concurrency)
                for server in servers:
                    print(f"[round {round_no}/{settings.rounds} py{python} {plan.image} {server.case.server}] "
                          f"{_progress(server.case)}", flush=True)
                    runs.append(server.case)
    return runs


def estimate_minutes(plans: list[ImagePlan], settings: Settings) -> float:
    """Minutes the rounds take (the builds come on top)."""
    servers = [server for plan in plans for server in plan.servers]
    start_only = settings.settle_s + CASE_OVERHEAD_S
    loads = settings.warmup_s + settings.duration_s * len(cells(settings))
    per_round = sum(start_only + (loads if server.throughput else 0) for server in servers)
    return len(settings.pythons) * settings.rounds * per_round / 60


def write_results(output: Path, name: str, markdown: str, info: RunInfo, settings: Settings,
                  plans: list[ImagePlan], runs: list[CaseRun], sizes: Sizes, targets: list[Target]) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    markdown_path, chart_path, json_path = (output / f"{name}{suffix}" for suffix in (".md", ".png", ".json"))
    markdown_path.write_text(markdown)
    render_chart(chart_path, plans, settings.pythons, cells(settings), runs,
                 f"Requests per second (medians), {settings.rounds} round(s), {info.cpus} × {info.cpu_model}, "
                 f"{info.date}")
    json_path.write_text(json.dumps({
        "info": dataclasses.asdict(info),
        "settings": dataclasses.asdict(settings),
        "servers": {plan.image: {server.key: server.shown_command for server in plan.servers} for plan in plans},
        "sizes": {python: {image: {"image_bytes": size, "minimal_bytes": minimal}
                           for image, (size, minimal) in by_image.items()} for python, by_image in sizes.items()},
        "targets": [target.to_json() for target in targets],
        "runs": [run.to_json() for run in runs],
    }, indent=1) + "\n")
    return [markdown_path, chart_path, json_path]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so a SIGTERM (a cancelled CI job) removes the containers like Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    options = parse_args(argv)
    settings = settings_from(options)
    plans = [plan for plan in PLANS if not options.images or plan.image in options.images]
    size_images = [] if options.images else list(SIZE_ONLY)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    in_netns = options.via == "netns" or (options.via == "auto" and netns_usable())
    if options.via == "netns" and not netns_usable():
        print("--via netns needs root and nsenter", file=sys.stderr)
        return 1
    client = docker.from_env(timeout=900)
    client.ping()
    started = time.monotonic()
    run_id = uuid.uuid4().hex[:6]
    print(f"bench run {run_id}: {'smoke' if settings.smoke else 'full'}, Python {' and '.join(settings.pythons)}, "
          f"{settings.rounds} round(s), {settings.duration_s} s per wrk run, connections {settings.concurrencies}, "
          f"wrk via {'netns' if in_netns else 'published port'}, runs with more than "
          f"{settings.outside_cpu_limit:.2f} cores used outside dropped; "
          f"measuring about {estimate_minutes(plans, settings):.0f} min after the builds", flush=True)
    if settings.rounds < settings.min_pairs:
        print(f"note: {settings.rounds} round(s) give fewer than the {settings.min_pairs} pairs a comparison needs; "
              "the report flags every comparison as not conclusive", flush=True)
    try:
        bench_refs, sizes = build_everything(client, plans, size_images, settings.pythons,
                                             build_family=not options.no_build)
    except (images.BuildFailed, docker.errors.DockerException) as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 1
    load_before = os.getloadavg()[0]
    if load_before > BUSY_LOAD:
        print(f"note: the machine is busy (load average {load_before:.2f}); expect noisy numbers", flush=True)
    rounds_started = time.monotonic()
    try:
        runs = run_rounds(client, plans, bench_refs, settings, run_id, in_netns)
        print(f"the rounds took {(time.monotonic() - rounds_started) / 60:.1f} min "
              f"(estimated {estimate_minutes(plans, settings):.1f})", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        remove_run_containers(client, run_id)
    targets = [target for python in settings.pythons
               for target in all_targets(runs, plans, cells(settings), sizes[python], python, settings.min_pairs)]
    info = run_info(client, settings, (time.monotonic() - started) / 60, in_netns, load_before)
    markdown = render_markdown(info, settings, plans, cells(settings), runs, sizes, targets, org=images.project.ORG)
    output = options.output or (RESULTS / "tmp" if settings.smoke else RESULTS)
    written = write_results(output, "smoke" if settings.smoke else "latest", markdown, info, settings, plans, runs,
                            sizes, targets)
    print("\n" + markdown)
    print("written: " + ", ".join(str(path.relative_to(images.ROOT) if path.is_relative_to(images.ROOT) else path)
                                  for path in written))
    failed = [run for run in runs if run.failure]
    if failed:
        print(f"{len(failed)} server run(s) failed: " + ", ".join(f"{run.image}/{run.server}" for run in failed),
              file=sys.stderr)
        return 1
    missed = [target for target in targets if target.met is False]
    too_few = [target for target in targets if target.too_few_pairs]
    if options.strict and (missed or too_few):
        print(f"{len(missed)} target(s) missed, {len(too_few)} resting on fewer than {settings.min_pairs} pairs",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
