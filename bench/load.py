"""The load generator: wrk against a server on loopback, bounded in time, read back as numbers.

Two ways to reach the server, both on 127.0.0.1 only:
- "netns": wrk runs in the container's network namespace (nsenter, needs root) and targets 127.0.0.1:80
  there. Nothing but the server and wrk is in the path: this is how the servers compare.
- "published": wrk targets the port Docker publishes on the host's 127.0.0.1. Docker's port proxy then
  copies every byte and, on a small machine, costs as much CPU as a fast server (several times fewer
  requests per second, and ratios squeezed towards 1). Used where nsenter is not allowed (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

REPORT_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
RESULT_MARKER = "BENCH_RESULT "
GRACE_S = 30  # on top of wrk's own duration before we stop waiting for it
LOOPBACK = "127.0.0.1"


class LoadError(Exception):
    """wrk did not run, or the server did not answer it; the message says which."""


@dataclass(frozen=True)
class Load:
    """One wrk run."""

    requests: int
    duration_s: float
    requests_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    socket_errors: int  # connect + read + write + timeouts
    status_errors: int  # responses with a status of 400 or more
    # CPU used by anything but the server, wrk and the port proxy during the run, in cores (bench/host.py);
    # None when it could not be read
    outside_cpu_cores: float | None = None

    def to_json(self) -> dict[str, float | int | None]:
        return asdict(self)


def parse_wrk_output(output: str) -> Load:
    """Read the line wrk_report.lua prints at the end of a run."""
    lines = [line for line in output.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        raise LoadError("wrk printed no result line:\n" + output.strip()[-2000:])
    data = json.loads(lines[-1][len(RESULT_MARKER):])
    duration_s = data["duration_us"] / 1e6
    requests = int(data["requests"])
    return Load(
        requests=requests,
        duration_s=duration_s,
        requests_per_s=requests / duration_s if duration_s > 0 else 0.0,
        latency_p50_ms=data["latency_p50_us"] / 1000,
        latency_p99_ms=data["latency_p99_us"] / 1000,
        socket_errors=sum(int(data[key]) for key in ("connect_errors", "read_errors", "write_errors", "timeouts")),
        status_errors=int(data["status_errors"]),
    )


def failure(load: Load) -> str | None:
    """Why a run shows that the server did not really answer, or None when it did."""
    if load.requests == 0:
        return "no request was answered"
    if load.status_errors:
        return f"{load.status_errors} responses had an error status"
    if load.socket_errors > load.requests:
        return f"{load.socket_errors} socket errors for {load.requests} requests"
    return None


def netns_usable() -> bool:
    """Whether wrk can be run in a container's network namespace: root, with nsenter that may switch."""
    if os.geteuid() != 0 or shutil.which("nsenter") is None:
        return False
    probe = ["nsenter", f"--target={os.getpid()}", "--net", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@dataclass(frozen=True)
class Address:
    """Where wrk sends its requests: a port on 127.0.0.1, inside a network namespace (a process id) or not."""

    port: int
    netns_pid: int | None = None


def wrk_command(address: Address, path: str, concurrency: int, duration_s: int, threads: int) -> list[str]:
    command = [
        "wrk", f"--threads={threads}", f"--connections={concurrency}", f"--duration={duration_s}s",
        "--timeout=5s", f"--script={REPORT_SCRIPT}", f"http://{LOOPBACK}:{address.port}{path}",
    ]
    if address.netns_pid is not None:
        command = ["nsenter", f"--target={address.netns_pid}", "--net", *command]
    return command


def run_wrk(address: Address, path: str, concurrency: int, duration_s: int, threads: int = 1) -> Load:
    """One bounded wrk run against 127.0.0.1; raises LoadError when wrk fails or the server does not answer."""
    if shutil.which("wrk") is None:
        raise LoadError("wrk is not installed (apt-get install wrk)")
    command = wrk_command(address, path, max(concurrency, threads), duration_s, threads)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + GRACE_S)
    except subprocess.TimeoutExpired as error:
        raise LoadError(f"wrk did not finish within {duration_s + GRACE_S}s") from error
    if result.returncode != 0:
        raise LoadError(f"wrk exited {result.returncode}: {(result.stderr or result.stdout).strip()[-1000:]}")
    load = parse_wrk_output(result.stdout)
    why = failure(load)
    if why:
        raise LoadError(f"{why} (wrk -c{concurrency} {path})")
    return load
