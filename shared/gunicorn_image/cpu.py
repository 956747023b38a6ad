"""How many CPUs this container may really use (a leaf: imports nothing of ours).

`os.cpu_count()` reports the host's CPUs, not the container's share. The real budget is the smallest of:

- the CFS quota of the container's cgroup: cgroup v2 `cpu.max` ("<quota> <period>" or "max <period>"),
  or cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota -1 means no limit); rounded up, so
  `docker run --cpus 1.5` counts as 2;
- the CPU affinity set (`docker run --cpuset-cpus`, `taskset`);
- the machine's CPU count.

The container's own cgroup is found from /proc/self/cgroup. Inside a cgroup namespace, or when Docker
bind-mounts the container's cgroup as the controller root (cgroup v1), that path does not exist under
/sys/fs/cgroup; then the controller root itself is the container's cgroup. Limits on parent cgroups
count too (Kubernetes puts one on the pod), so every visible ancestor is read and the smallest wins.

Everything that touches the machine is a parameter, so tests run against fake trees.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")

# cgroup v1 mounts the cpu controller under one of these names, depending on the distribution.
V1_CPU_CONTROLLER_DIRS = ("cpu,cpuacct", "cpu", "cpuacct,cpu")


def cpu_budget(
    cgroup_root: Path = CGROUP_ROOT,
    self_cgroup_text: str | None = None,
    affinity_count: int | None = None,
    machine_count: int | None = None,
) -> int:
    """The number of CPUs the container may use, at least 1.

    Every argument left as None is read from this machine.
    """
    if self_cgroup_text is None:
        self_cgroup_text = read_text(SELF_CGROUP) or ""
    if affinity_count is None:
        affinity_count = _affinity_count()
    if machine_count is None:
        machine_count = os.cpu_count()

    candidates = [count for count in (affinity_count, machine_count) if count]
    quota = cgroup_cpu_quota(cgroup_root, self_cgroup_text)
    if quota is not None:
        candidates.append(math.ceil(quota))
    return max(min(candidates, default=1), 1)


def cgroup_cpu_quota(cgroup_root: Path, self_cgroup_text: str) -> float | None:
    """The smallest CPU quota (in CPUs, e.g. 1.5) on the container's cgroup or its ancestors, or None."""
    v1_paths, v2_path = parse_self_cgroup(self_cgroup_text)
    quotas: list[float] = []

    # cgroup v2 (unified): cpu.max in the container's cgroup directory.
    if (cgroup_root / "cgroup.controllers").exists():
        for directory in own_dir_and_ancestors(cgroup_root, v2_path or "/"):
            quota = read_cpu_max(directory / "cpu.max")
            if quota is not None:
                quotas.append(quota)

    # cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us under the cpu controller's mount.
    for controller_dir in V1_CPU_CONTROLLER_DIRS:
        mount = cgroup_root / controller_dir
        if not mount.is_dir():
            continue
        for directory in own_dir_and_ancestors(mount, v1_paths.get("cpu", "/")):
            quota = read_cfs_quota(directory)
            if quota is not None:
                quotas.append(quota)
        break  # "cpu" is often a symlink to "cpu,cpuacct": read the controller once

    return min(quotas, default=None)


def parse_self_cgroup(text: str) -> tuple[dict[str, str], str | None]:
    """Split /proc/self/cgroup into {v1 controller: path} and the v2 path ("0::/path")."""
    v1_paths: dict[str, str] = {}
    v2_path: str | None = None
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy_id, controllers, path = parts
        if hierarchy_id == "0" and controllers == "":
            v2_path = path
            continue
        for controller in controllers.split(","):
            if controller:
                v1_paths[controller] = path
    return v1_paths, v2_path


def read_cpu_max(path: Path) -> float | None:
    """cgroup v2 `cpu.max`: "max 100000" (no limit) or "150000 100000" (1.5 CPUs)."""
    fields = (read_text(path) or "").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def read_cfs_quota(directory: Path) -> float | None:
    """cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`; a quota of -1 means no limit."""
    quota = read_text(directory / "cpu.cfs_quota_us")
    period = read_text(directory / "cpu.cfs_period_us")
    if quota is None or period is None:
        return None
    return _ratio(quota.strip(), period.strip())


def _ratio(quota: str, period: str) -> float | None:
    try:
        quota_value, period_value = int(quota), int(period)
    except ValueError:
        return None
    if quota_value <= 0 or period_value <= 0:
        return None
    return quota_value / period_value


def own_dir_and_ancestors(mount: Path, cgroup_path: str) -> Iterator[Path]:
    """The container's cgroup directory under `mount` and each ancestor up to `mount` itself.

    Inside a cgroup namespace (or a v1 bind mount) the path from /proc/self/cgroup is not visible;
    then its existing prefixes are skipped and the mount itself is the container's cgroup.
    """
    parts = [part for part in PurePosixPath(cgroup_path).parts if part not in ("/", "", "..", ".")]
    seen: set[Path] = set()
    for depth in range(len(parts), -1, -1):
        directory = mount.joinpath(*parts[:depth])
        if directory.is_dir() and directory not in seen:
            seen.add(directory)
            yield directory


def _affinity_count() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def worker_count(
    cpus: int,
    workers_per_core: float,
    max_workers: int | None = None,
    web_concurrency: int | None = None,
) -> int:
    """tiangolo's rule: WEB_CONCURRENCY wins; else max(int(cpus * per core), 2), then capped by MAX_WORKERS."""
    return worker_budget(cpus, workers_per_core, max_workers, web_concurrency)[0]


def worker_budget(
    cpus: int,
    workers_per_core: float,
    max_workers: int | None = None,
    web_concurrency: int | None = None,
    memory_limit: int | None = None,
    worker_memory: int | None = None,
) -> tuple[int, str]:
    """(workers, the bound that decided: "WEB_CONCURRENCY", "cpus", "MAX_WORKERS" or "memory").

    WEB_CONCURRENCY wins over everything; else max(int(cpus * per core), 2), capped by MAX_WORKERS, then by
    floor(memory_limit / worker_memory), at least 1, when the container has a memory limit.
    """
    if web_concurrency is not None:
        return web_concurrency, "WEB_CONCURRENCY"
    workers, bound = max(int(cpus * workers_per_core), 2), "cpus"
    if max_workers is not None and max_workers < workers:
        workers, bound = max_workers, "MAX_WORKERS"
    if memory_limit is not None and worker_memory:
        fitting = max(memory_limit // worker_memory, 1)
        if fitting < workers:
            workers, bound = fitting, "memory"
    return workers, bound
