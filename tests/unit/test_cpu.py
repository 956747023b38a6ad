"""The CPU budget comes from the container's cgroup quota, its affinity set and the machine's count."""

from __future__ import annotations

from pathlib import Path

import pytest
from gunicorn_image import cpu

DOCKER_ID = "/docker/0123abcd"
V1_SELF_CGROUP = f"12:cpu,cpuacct:{DOCKER_ID}\n4:memory:{DOCKER_ID}\n0::{DOCKER_ID}\n"
V2_SELF_CGROUP = "0::/\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def v2_tree(root: Path, cpu_max: str | None, subpath: str = "") -> Path:
    write(root / "cgroup.controllers", "cpuset cpu io memory pids\n")
    if cpu_max is not None:
        write(root / subpath / "cpu.max", cpu_max + "\n")
    return root


def v1_tree(
    root: Path, quota: str, period: str = "100000", controller_dir: str = "cpu,cpuacct", subpath: str = ""
) -> Path:
    write(root / controller_dir / subpath / "cpu.cfs_quota_us", quota + "\n")
    write(root / controller_dir / subpath / "cpu.cfs_period_us", period + "\n")
    return root


@pytest.mark.parametrize(
    ("cpu_max", "affinity", "machine", "expected"),
    [
        ("max 100000", 8, 8, 8),  # no limit: affinity / machine count
        ("200000 100000", 8, 8, 2),  # --cpus 2
        ("150000 100000", 8, 8, 2),  # --cpus 1.5 rounds up
        ("50000 100000", 8, 8, 1),  # --cpus 0.5 rounds up to 1
        ("400000 100000", 2, 8, 2),  # affinity below quota
        ("100000 100000", 4, 8, 1),  # quota below affinity
        ("400000 100000", 8, 3, 3),  # machine count below both
        (None, 6, 8, 6),  # no cpu.max file at all
        ("garbage", 6, 8, 6),  # unreadable content is ignored
    ],
)
def test_cgroup_v2_cpu_max_limits_the_budget(tmp_path: Path, cpu_max, affinity, machine, expected) -> None:
    root = v2_tree(tmp_path, cpu_max)
    got = cpu.cpu_budget(root, V2_SELF_CGROUP, affinity_count=affinity, machine_count=machine)
    assert got == expected, f"cpu.max={cpu_max!r} affinity={affinity} machine={machine}: expected {expected}, got {got}"


@pytest.mark.parametrize(
    ("quota", "period", "affinity", "expected"),
    [
        ("-1", "100000", 8, 8),  # no limit
        ("200000", "100000", 8, 2),
        ("150000", "100000", 8, 2),  # rounded up
        ("300000", "100000", 2, 2),  # affinity below quota
        ("100000", "100000", 4, 1),  # quota below affinity
    ],
)
def test_cgroup_v1_cfs_quota_limits_the_budget(tmp_path: Path, quota, period, affinity, expected) -> None:
    root = v1_tree(tmp_path, quota, period)
    got = cpu.cpu_budget(root, V1_SELF_CGROUP, affinity_count=affinity, machine_count=8)
    assert got == expected


def test_cgroup_v1_separate_cpu_mount_as_docker_mounts_it(tmp_path: Path) -> None:
    # Docker (v1, as on this machine) bind-mounts the container's cgroup at /sys/fs/cgroup/cpu:
    # /proc/self/cgroup names /docker/<id>, which does not exist below the mount.
    root = v1_tree(tmp_path, "150000", controller_dir="cpu")
    assert cpu.cpu_budget(root, "1:cpu:/docker/abc\n2:cpuacct:/docker/abc\n", 8, 8) == 2


def test_cgroup_v1_host_view_reads_the_containers_own_directory(tmp_path: Path) -> None:
    # Without a cgroup namespace the whole hierarchy is visible: the container's own directory counts,
    # the unlimited root does not hide it.
    root = v1_tree(tmp_path, "-1")
    v1_tree(root, "200000", subpath=DOCKER_ID.lstrip("/"))
    assert cpu.cpu_budget(root, V1_SELF_CGROUP, 8, 8) == 2


def test_cgroup_v2_limit_on_a_parent_cgroup_counts(tmp_path: Path) -> None:
    # Kubernetes puts the limit on the pod; the container's cgroup below it says "max".
    root = v2_tree(tmp_path, "max 100000")
    write(root / "kubepods" / "pod1" / "cpu.max", "300000 100000\n")
    write(root / "kubepods" / "pod1" / "ctr" / "cpu.max", "max 100000\n")
    assert cpu.cpu_budget(root, "0::/kubepods/pod1/ctr\n", 8, 8) == 3


def test_no_cgroup_files_at_all_falls_back_to_affinity_and_machine(tmp_path: Path) -> None:
    assert cpu.cpu_budget(tmp_path / "missing", "", affinity_count=3, machine_count=8) == 3
    assert cpu.cpu_budget(tmp_path / "missing", "", affinity_count=0, machine_count=0) == 1  # nothing known


def test_parse_self_cgroup_splits_v1_controllers_and_v2_path() -> None:
    v1, v2 = cpu.parse_self_cgroup("12:cpu,cpuacct:/a\n3:name=systemd:/b\n0::/c\nbroken\n")
    assert v1 == {"cpu": "/a", "cpuacct": "/a", "name=systemd": "/b"}
    assert v2 == "/c"


def test_this_machine_reports_at_least_one_cpu() -> None:
    assert cpu.cpu_budget() >= 1


@pytest.mark.parametrize(
    ("cpus", "per_core", "max_workers", "web_concurrency", "expected"),
    [
        (1, 1.0, None, None, 2),  # the floor of 2
        (4, 1.0, None, None, 4),
        (4, 2.0, None, None, 8),  # flask's default of 2 per core
        (4, 0.5, None, None, 2),
        (3, 0.5, None, None, 2),  # int(1.5) = 1, floor 2
        (8, 1.0, 3, None, 3),  # MAX_WORKERS caps
        (1, 1.0, 1, None, 1),  # ... even below the floor (applied after it)
        (8, 1.0, 3, 5, 5),  # WEB_CONCURRENCY wins over everything
        (1, 1.0, None, 1, 1),
    ],
)
def test_worker_count_rule(cpus, per_core, max_workers, web_concurrency, expected) -> None:
    assert cpu.worker_count(cpus, per_core, max_workers, web_concurrency) == expected
