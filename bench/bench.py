"""The benchmark of the image family: each image's default configuration against the servers its users
would pick instead, same app, same container image, same worker count.

    .venv/bin/python bench/bench.py           # make bench: full run (about 20 minutes on 2 cores)
    .venv/bin/python bench/bench.py --smoke   # make bench-smoke (CI): seconds per case, one round

A run: build the images under test (tools/build.py, all cache when nothing changed), a bench image FROM
each and a minimal same-packages image for the size comparison; then round after round start every
server of every image in a fresh container (A B C A B C ...), measure its cold start, idle memory and
throughput with wrk on 127.0.0.1; then write bench/results/latest.{md,png,json} and print the tables.

Exit status: 1 when a build fails or a server does not answer (the smoke check's purpose); missed
performance targets are reported, and fail the run only with --strict.
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

import docker

import images
from load import netns_usable
from plan import ENDPOINTS, FULL, PLANS, PYTHON, SIZE_ONLY, SMOKE, ImagePlan, Settings, cells
from report import RunInfo, render_chart, render_markdown
from results import CaseRun, Target, all_targets
from runner import ServerRun, remove_run_containers

RESULTS = Path(__file__).resolve().parent / "results"
CASE_OVERHEAD_S = 3  # start, memory reading, removal: for the time estimate only
BUSY_LOAD = 1.0  # a 1-minute load average above this before the rounds means something else is running


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a quick check that every server answers (CI)")
    parser.add_argument("--images", nargs="+", choices=[plan.image for plan in PLANS], help="only these images")
    parser.add_argument("--rounds", type=int, help="rounds of every server (full: 3)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (full: 4)")
    parser.add_argument("--concurrency", type=int, action="append", help="wrk connections (repeatable; full: 64 256)")
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
    changes: dict[str, object] = {}
    if options.rounds:
        changes["rounds"] = options.rounds
    if options.duration:
        changes["duration_s"] = options.duration
    if options.concurrency:
        changes["concurrencies"] = tuple(options.concurrency)
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


def run_info(client: docker.DockerClient, minutes: float, in_netns: bool, load_before: float) -> RunInfo:
    wrk = _command_output(["wrk", "-v"]).splitlines()
    return RunInfo(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cpus=len(os.sched_getaffinity(0)),  # what `nproc` prints
        cpu_model=cpu_model(),
        kernel=platform.release(),
        docker=str(client.version().get("Version", "unknown")),
        wrk=wrk[0].split("[")[0].strip() if wrk else "wrk",
        revision=_command_output(["git", "-C", str(images.ROOT), "describe", "--always", "--dirty"]),
        python=PYTHON,
        minutes=minutes,
        via="netns" if in_netns else "published",
        load_before=load_before,
    )


def build_everything(client: docker.DockerClient, plans: list[ImagePlan], size_images: list[str],
                     build_family: bool) -> tuple[dict[str, str], dict[str, tuple[int | None, int | None]]]:
    """Build what the run needs; returns the bench image per image and (image, minimal) sizes."""
    family = list(dict.fromkeys([plan.image for plan in plans] + size_images))
    if build_family:
        images.build_family(family)
    images.require_family(client, family)
    pythons = images.python_images()
    print(f"Python images: {pythons.slim} (final stages), {pythons.full} (compiling)", flush=True)
    bench_refs = {plan.image: images.build_bench_image(client, plan.image, pythons) for plan in plans}
    sizes: dict[str, tuple[int | None, int | None]] = {}
    for image in family:
        minimal = images.build_minimal_image(client, image, pythons)
        sizes[image] = (images.image_size(client, images.family_ref(image)), images.image_size(client, minimal))
    return bench_refs, sizes


def _progress(case: CaseRun) -> str:
    if case.failure:
        return "FAILED: " + case.failure
    parts = [f"cold start {case.cold_start_s:.2f} s"]
    if case.memory_bytes is not None:
        parts.append(f"{case.memory_bytes / 2**20:.0f} MiB")
    parts += [f"{cell} {load.requests_per_s:,.0f}/s" for cell, load in case.loads.items()]
    return ", ".join(parts)


def run_rounds(client: docker.DockerClient, plans: list[ImagePlan], bench_refs: dict[str, str],
               settings: Settings, run_id: str, in_netns: bool) -> list[CaseRun]:
    """Round after round, image after image: start each server in a fresh container, one after the other
    (cold start, idle memory), then measure each throughput cell on every server back to back
    (A B C A B C ...), so the servers compared in a cell ran seconds apart, not minutes."""
    runs: list[CaseRun] = []
    for round_no in range(1, settings.rounds + 1):
        for plan in plans:
            with contextlib.ExitStack() as stack:
                servers = [stack.enter_context(ServerRun(client, bench_refs[plan.image], plan.image, server, settings,
                                                         round_no, run_id, in_netns))
                           for server in plan.servers]
                for endpoint in ENDPOINTS:
                    for concurrency in settings.concurrencies:
                        for server in servers:
                            server.measure(endpoint, concurrency)
            for server in servers:
                print(f"[round {round_no}/{settings.rounds} {plan.image} {server.case.server}] "
                      f"{_progress(server.case)}", flush=True)
                runs.append(server.case)
    return runs


def estimate_minutes(plans: list[ImagePlan], settings: Settings) -> float:
    servers = sum(len(plan.servers) for plan in plans)
    per_case = settings.warmup_s + settings.settle_s + CASE_OVERHEAD_S + settings.duration_s * len(cells(settings))
    return servers * settings.rounds * per_case / 60


def write_results(output: Path, name: str, markdown: str, info: RunInfo, settings: Settings,
                  plans: list[ImagePlan], runs: list[CaseRun], sizes: dict[str, tuple[int | None, int | None]],
                  targets: list[Target]) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    markdown_path, chart_path, json_path = (output / f"{name}{suffix}" for suffix in (".md", ".png", ".json"))
    markdown_path.write_text(markdown)
    render_chart(chart_path, plans, cells(settings), runs,
                 f"Requests per second, {settings.rounds} round(s), {info.cpus} × {info.cpu_model}, {info.date}")
    json_path.write_text(json.dumps({
        "info": dataclasses.asdict(info),
        "settings": dataclasses.asdict(settings),
        "servers": {plan.image: {server.key: server.shown_command for server in plan.servers} for plan in plans},
        "sizes": {image: {"image_bytes": size, "minimal_bytes": minimal} for image, (size, minimal) in sizes.items()},
        "targets": [dict(dataclasses.asdict(target), met=target.met) for target in targets],
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
    print(f"bench run {run_id}: {'smoke' if settings.smoke else 'full'}, {settings.rounds} round(s), "
          f"{settings.duration_s} s per wrk run, connections {settings.concurrencies}, "
          f"wrk via {'netns' if in_netns else 'published port'}, "
          f"measuring about {estimate_minutes(plans, settings):.0f} min after the builds", flush=True)
    try:
        bench_refs, sizes = build_everything(client, plans, size_images, build_family=not options.no_build)
    except (images.BuildFailed, docker.errors.DockerException) as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 1
    load_before = os.getloadavg()[0]
    if load_before > BUSY_LOAD:
        print(f"note: the machine is busy (load average {load_before:.2f}); expect noisy numbers", flush=True)
    try:
        runs = run_rounds(client, plans, bench_refs, settings, run_id, in_netns)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        remove_run_containers(client, run_id)
    targets = all_targets(runs, plans, cells(settings), sizes)
    info = run_info(client, (time.monotonic() - started) / 60, in_netns, load_before)
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
    if missed and options.strict:
        print(f"{len(missed)} target(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
