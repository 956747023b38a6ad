"""What the host's kernel says while a server is measured: CPU used outside the benchmark, and memory as PSS.

Every figure comes from a small pure function over the text of a /proc or /sys file (unit-tested with
made-up text), plus a thin reader that returns None when the file cannot be read: an unreadable figure
is recorded as unknown, never guessed.

CPU outside the benchmark, during one wrk run, in cores (CPU-seconds per second):

    host busy time (/proc/stat)  -  the server container's CPU (its cgroup)  -  wrk's own CPU  -  the port proxy's
    ---------------------------------------------------------------------------------------------------------------
                                             wall-clock seconds of the run

Whatever is left is another program competing with the servers for the same cores, which would make a run
slower for reasons that are not the server's.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# /proc/stat's "cpu" line: user nice system idle iowait irq softirq steal guest guest_nice. Busy is all but
# idle and iowait (a waiting CPU is free); guest time is already inside user.
BUSY_FIELDS = {"user": 0, "nice": 1, "system": 2, "irq": 5, "softirq": 6, "steal": 7}
PROXY_COMMAND = "docker-proxy"


# CPU -------------------------------------------------------------------------------------------------------

def host_busy_seconds(proc_stat: str, ticks_per_second: int) -> float:
    """Busy CPU time of all CPUs together since boot, from the text of /proc/stat."""
    for line in proc_stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(value) for value in fields[1:]]
            return sum(ticks[index] for index in BUSY_FIELDS.values() if index < len(ticks)) / ticks_per_second
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def cgroup_cpu_seconds(path: Path, text: str) -> float:
    """A cgroup's CPU time from its accounting file: v1 `cpuacct.usage` (nanoseconds) or v2 `cpu.stat`
    (`usage_usec`)."""
    if path.name == "cpuacct.usage":
        return int(text.strip()) / 1e9
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "usage_usec":
            return int(value) / 1e6
    raise ValueError(f"no usage_usec in {path}")


def container_cpu_files(container_id: str, root: Path = CGROUP_ROOT) -> list[Path]:
    """Where a container's CPU accounting may be, by cgroup version and Docker's cgroup driver (cgroupfs
    or systemd); the first that exists is used."""
    return [
        root / "cpuacct" / "docker" / container_id / "cpuacct.usage",  # v1, cgroupfs
        root / "cpu,cpuacct" / "docker" / container_id / "cpuacct.usage",
        root / "cpuacct" / "system.slice" / f"docker-{container_id}.scope" / "cpuacct.usage",  # v1, systemd
        root / "docker" / container_id / "cpu.stat",  # v2, cgroupfs
        root / "system.slice" / f"docker-{container_id}.scope" / "cpu.stat",  # v2, systemd
    ]


def process_cpu_seconds(proc_pid_stat: str, ticks_per_second: int) -> float:
    """A process's user + system time from the text of /proc/<pid>/stat."""
    # The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
    fields = proc_pid_stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_second  # utime and stime, fields 14 and 15


def parent_pid(proc_pid_stat: str) -> int:
    return int(proc_pid_stat.rsplit(")", 1)[1].split()[1])  # field 4


def is_proxy_for(cmdline: bytes, host_port: int) -> bool:
    """Whether a /proc/<pid>/cmdline is Docker's userland proxy for a port published on the host."""
    arguments = cmdline.decode(errors="replace").split("\0")
    return bool(arguments) and arguments[0].endswith(PROXY_COMMAND) and any(
        name == "-host-port" and value == str(host_port) for name, value in zip(arguments, arguments[1:]))


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU counters at one moment; two of them bracket a wrk run."""

    at_s: float  # time.monotonic()
    host_busy_s: float
    container_s: float | None  # None: the container's cgroup could not be read
    children_s: float  # this process's waited-for children (wrk), user + system
    proxy_s: float  # Docker's port proxy for the published port, when wrk goes through it; else 0


def outside_cores(before: CpuSnapshot, after: CpuSnapshot) -> float | None:
    """CPU used by anything but the server, wrk and the proxy between them, in cores, between two
    snapshots; None when the container's share is unknown."""
    elapsed = after.at_s - before.at_s
    if before.container_s is None or after.container_s is None or elapsed <= 0:
        return None
    ours = (after.container_s - before.container_s) + (after.children_s - before.children_s) \
        + (after.proxy_s - before.proxy_s)
    return (after.host_busy_s - before.host_busy_s - ours) / elapsed


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, ValueError):
        return None


def container_cpu_seconds(container_id: str, root: Path = CGROUP_ROOT) -> float | None:
    for path in container_cpu_files(container_id, root):
        text = _read(path)
        if text is not None:
            try:
                return cgroup_cpu_seconds(path, text)
            except ValueError:
                return None
    return None


def proxy_pids(host_port: int) -> list[int]:
    """Docker's userland proxy processes for a port published on the host (none with the proxy disabled)."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if is_proxy_for((entry / "cmdline").read_bytes(), host_port):
                    found.append(int(entry.name))
            except OSError:
                continue  # the process ended meanwhile
    return found


def snapshot(container_id: str, proxies: Sequence[int] = ()) -> CpuSnapshot:
    ticks = os.sysconf("SC_CLK_TCK")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    proxy_s = 0.0
    for pid in proxies:
        text = _read(PROC / str(pid) / "stat")
        proxy_s += process_cpu_seconds(text, ticks) if text else 0.0
    return CpuSnapshot(
        at_s=time.monotonic(),
        host_busy_s=host_busy_seconds((PROC / "stat").read_text(), ticks),
        container_s=container_cpu_seconds(container_id),
        children_s=children.ru_utime + children.ru_stime,
        proxy_s=proxy_s,
    )


# memory ----------------------------------------------------------------------------------------------------

def pss_bytes(smaps_rollup: str) -> int:
    """A process's proportional set size from the text of /proc/<pid>/smaps_rollup: its private pages plus
    its share of the pages it shares (a worker forked from the master shares most of the master's)."""
    for line in smaps_rollup.splitlines():
        name, _, value = line.partition(":")
        if name == "Pss":  # not Pss_Anon, Pss_File, ...: those split the same total
            number, unit = value.split()
            if unit != "kB":
                raise ValueError(f"unexpected unit {unit!r} in smaps_rollup")
            return int(number) * 1024
    raise ValueError("no Pss line in smaps_rollup")


@dataclass(frozen=True)
class ProcessMemory:
    pid: int  # as the host sees it
    parent: int
    role: str  # "master", "worker" or "other" (see assign_roles)
    command: str
    pss_bytes: int


def assign_roles(processes: Iterable[tuple[int, int, str, int]]) -> list[ProcessMemory]:
    """(pid, parent pid, command line, PSS) of a container's processes -> the same with roles. The master is
    the process with the most children in the container; its children are the workers, except
    multiprocessing's resource tracker, a helper that Uvicorn's and Granian's spawned workers start."""
    rows = sorted(processes)
    children: dict[int, int] = {}
    for _, parent, _, _ in rows:
        children[parent] = children.get(parent, 0) + 1
    pids = {pid for pid, _, _, _ in rows}
    master = max(pids, key=lambda pid: (children.get(pid, 0), -pid), default=None)
    result = []
    for pid, parent, command, pss in rows:
        if pid == master:
            role = "master"
        elif parent == master and "resource_tracker" not in command:
            role = "worker"
        else:
            role = "other"
        result.append(ProcessMemory(pid, parent, role, command, pss))
    return result


def process_memory(pids: Iterable[int]) -> list[ProcessMemory] | None:
    """Every given process's PSS (root can read other users' smaps_rollup); None when any is unreadable,
    so a total is never silently short of a process."""
    found = []
    for pid in pids:
        rollup, stat = _read(PROC / str(pid) / "smaps_rollup"), _read(PROC / str(pid) / "stat")
        cmdline = _read(PROC / str(pid) / "cmdline")
        if not rollup or not stat or cmdline is None:
            return None
        try:
            found.append((pid, parent_pid(stat), cmdline.replace("\0", " ").strip()[:200], pss_bytes(rollup)))
        except (ValueError, IndexError):
            return None
    return assign_roles(found) if found else None
