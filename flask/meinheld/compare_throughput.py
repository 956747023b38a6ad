"""Compare the hello-world throughput of servers that are already running, with wrk, in interleaved rounds.

    python3 compare_throughput.py --target unpatched=http://127.0.0.1:18001/ \
        --target patched=http://127.0.0.1:18002/ [--pid unpatched=PID --pid patched=PID] \
        [--rounds 6] [--wrk "wrk -t1 -c64 -d5s"] [--max-slowdown 5]

Each round runs the wrk command once against every target, in turn, so that load from elsewhere on the
machine falls on all of them alike. Prints each round's requests/s, then per target the median, mean,
min, max and the difference from the first target (the median of the per-round ratios). With --pid NAME=PID (a server's master process, e.g.
`docker inspect -f '{{.State.Pid}}' CONTAINER`), it also reports the CPU time that process and its
descendants spent per request: a figure that other load on the machine disturbs far less than requests/s.
With --max-slowdown P, exits 1 when a target's median CPU time per request (when measured, else its
median requests/s) is more than P percent worse than the first target's. A run with wrk errors or non-2xx answers
counts as failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys


def cpu_seconds(root: int) -> float:
    """User + system CPU time of process `root` and its live descendants, from /proc."""
    parents, times = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = int(fields[11]) + int(fields[12])
    family, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return sum(times.get(pid, 0) for pid in family) / os.sysconf("SC_CLK_TCK")


def run_wrk(command: list[str], url: str, pid: int | None) -> tuple[float, float | None, str]:
    """Requests per second, CPU microseconds per request (None without a pid), and '' or what went wrong."""
    cpu_before = cpu_seconds(pid) if pid else 0.0
    result = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    cpu = cpu_seconds(pid) - cpu_before if pid else None
    out = result.stdout + result.stderr
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    problems = [line.strip() for line in out.splitlines() if re.match(r"\s*(Non-2xx|Socket errors)", line)]
    if result.returncode != 0 or not rate or not count:
        problems.append(f"wrk exited {result.returncode}: {out.strip()[-200:]}")
    per_request = cpu * 1e6 / int(count.group(1)) if cpu is not None and count and int(count.group(1)) else None
    return (float(rate.group(1)) if rate else 0.0), per_request, "; ".join(problems)


def report(values: dict[str, list[float]], targets, higher_is_better: bool, limit: float | None) -> bool:
    """Print one table; True when a target is worse than the first by more than `limit` percent."""
    first = values[targets[0][0]]
    worse = False
    for name, _ in targets:
        median = statistics.median(values[name])
        # the median of each round's ratio: rounds are close in time, so slow drifts in the machine's
        # other load cancel out better than in a ratio of two overall medians
        ratios = [mine / theirs for mine, theirs in zip(values[name], first) if theirs]
        change = (statistics.median(ratios) - 1) * 100 if ratios else 0.0
        print(f"{name:<12} {median:10.1f} {statistics.mean(values[name]):10.1f} {min(values[name]):10.1f} "
              f"{max(values[name]):10.1f} {change:+13.1f}%")
        loss = -change if higher_is_better else change
        if limit is not None and loss > limit:
            print(f"{name}: {loss:.1f}% worse than {targets[0][0]}, more than {limit}%")
            worse = True
    return worse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="append", required=True, metavar="NAME=URL",
                        help="a running server; give two or more, the first is the reference")
    parser.add_argument("--pid", action="append", default=[], metavar="NAME=PID",
                        help="the master process of target NAME, to measure CPU time per request")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--wrk", default="wrk -t1 -c64 -d5s", help="load command; the URL is appended")
    parser.add_argument("--max-slowdown", type=float, default=None, metavar="PERCENT")
    args = parser.parse_args()
    targets = [tuple(item.split("=", 1)) for item in args.target]
    if len(targets) < 2 or any(len(target) != 2 for target in targets):
        parser.error("give at least two --target NAME=URL")
    command = shlex.split(args.wrk)
    pids = {name: int(pid) for name, pid in (item.split("=", 1) for item in args.pid)}

    print(f"load: {args.wrk} URL; {args.rounds} interleaved rounds")
    rates: dict[str, list[float]] = {name: [] for name, _ in targets}
    cpus: dict[str, list[float]] = {name: [] for name, _ in targets}
    failed = False
    for number in range(1, args.rounds + 1):
        # alternate the order so neither target always runs first in a round
        order = targets if number % 2 else list(reversed(targets))
        cells = []
        for name, url in order:
            rate, cpu, problem = run_wrk(command, url, pids.get(name))
            rates[name].append(rate)
            if cpu is not None:
                cpus[name].append(cpu)
            cells.append(f"{name} {rate:9.1f} req/s" + (f" {cpu:6.1f} us/req" if cpu is not None else "")
                         + (f" ({problem})" if problem else ""))
            failed |= bool(problem)
        print(f"round {number}: " + " | ".join(cells), flush=True)

    first = targets[0][0]
    print(f"{'target':<12} {'median':>10} {'mean':>10} {'min':>10} {'max':>10} {'vs ' + first:>14}   (requests/s)")
    measured_cpu = all(cpus[name] for name, _ in targets)
    # with CPU figures the limit applies to them: requests/s move with whatever else the machine runs
    failed |= report(rates, targets, higher_is_better=True, limit=None if measured_cpu else args.max_slowdown)
    if measured_cpu:
        print(f"{'target':<12} {'median':>10} {'mean':>10} {'min':>10} {'max':>10} {'vs ' + first:>14}   "
              "(CPU microseconds per request)")
        failed |= report(cpus, targets, higher_is_better=False, limit=args.max_slowdown)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
