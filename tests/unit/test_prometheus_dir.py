"""PROMETHEUS_MULTIPROC_DIR: prepared before the app is imported; a dead worker's files folded into archives.

The folding tests need prometheus_client (it is not one of the images' packages: users install it) and skip
without it; they write real metrics from real processes and compare what MultiProcessCollector reports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gunicorn_image import prometheus_dir


def test_prepare_creates_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "metrics"
    prometheus_dir.prepare(str(directory), os.geteuid(), os.getegid())
    assert directory.is_dir() and list(directory.iterdir()) == []


def test_prepare_empties_what_an_earlier_run_left(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "x.db").write_text("")
    (tmp_path / "counter_123.db").write_text("stale")
    (tmp_path / "link").symlink_to(tmp_path / "old")
    prometheus_dir.prepare(str(tmp_path), os.geteuid(), os.getegid())
    assert list(tmp_path.iterdir()) == []


def test_prepare_failure_is_an_oserror_with_a_one_line_problem(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError) as caught:
        prometheus_dir.prepare(str(blocker / "metrics"), os.geteuid(), os.getegid())
    line = prometheus_dir.problem(str(blocker / "metrics"), caught.value)
    assert line.startswith(f'PROMETHEUS_MULTIPROC_DIR="{blocker}/metrics" cannot be prepared (') and "\n" not in line


# --- folding (prometheus_client) ----------------------------------------------------------------------------

# One worker's metrics: every kind whose files outlive the process, with labels, and a value per worker number.
WORKER = """
import os, sys
from prometheus_client import Counter, Gauge, Histogram, Summary
n = int(sys.argv[1])
requests = Counter("requests", "Requests", ["path"])
requests.labels("/").inc(n)
requests.labels(f"/only{n}").inc(1)
h = Histogram("latency", "Latency", buckets=(0.1, 1.0))
for value in (0.05 * n, 0.5, 2.0 * n):
    h.observe(value)
Summary("size", "Size").observe(10 * n)
Gauge("in_use", "In use", multiprocess_mode="sum").set(n)
Gauge("lowest", "Lowest", multiprocess_mode="min").set(5 - n)
Gauge("highest", "Highest", multiprocess_mode="max").set(n - 5)
Gauge("latest", "Latest", multiprocess_mode="mostrecent").set(100 + n)
Gauge("each", "Each", multiprocess_mode="all").set(n)
print(os.getpid())
"""


def run_worker(directory: Path, number: int) -> int:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(number)], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return int(done.stdout)


def collected(directory: Path) -> dict[tuple[str, tuple], float]:
    """What /metrics would report: (sample name, labels) -> value."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        for sample in metric.samples
    }


def test_folding_dead_workers_keeps_every_reported_value_and_removes_their_files(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="prometheus_client is not installed on this host")
    pids = [run_worker(tmp_path, number) for number in (1, 2, 3)]
    before = collected(tmp_path)

    folded = prometheus_dir.fold_dead_process(str(tmp_path), pids[0])
    assert sorted(folded) == sorted(
        f"{prefix}_{pids[0]}.db"
        for prefix in ("counter", "histogram", "summary", "gauge_sum", "gauge_min", "gauge_max", "gauge_mostrecent")
    )
    # Sums may differ in the last bit: the values are added in another order.
    assert collected(tmp_path) == pytest.approx(before), "folding one worker changed what /metrics reports"
    for pid in pids[1:]:  # the next folds merge into existing archives
        prometheus_dir.fold_dead_process(str(tmp_path), pid)
    assert collected(tmp_path) == pytest.approx(before), "folding into existing archives changed what /metrics reports"

    names = sorted(path.name for path in tmp_path.iterdir())
    archives = [f"{prefix}_archive.db" for prefix in prometheus_dir.FOLDED_PREFIXES]
    each = [f"gauge_all_{pid}.db" for pid in pids]  # reported per pid: left as they are
    assert names == sorted(archives + each), f"expected only archives and gauge_all files, got {names}"


def test_folding_a_process_without_files_does_nothing(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="prometheus_client is not installed on this host")
    assert prometheus_dir.fold_dead_process(str(tmp_path), 999999) == []
    assert list(tmp_path.iterdir()) == []


def test_a_later_worker_counts_on_top_of_the_archive(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="prometheus_client is not installed on this host")
    first = run_worker(tmp_path, 1)
    prometheus_dir.fold_dead_process(str(tmp_path), first)
    run_worker(tmp_path, 2)
    totals = collected(tmp_path)
    assert totals[("requests_total", (("path", "/"),))] == 3.0
    assert totals[("latency_count", ())] == 6.0
    assert totals[("in_use", ())] == 3.0
