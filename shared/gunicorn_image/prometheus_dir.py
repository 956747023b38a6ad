"""The PROMETHEUS_MULTIPROC_DIR of ``prometheus_client``'s multiprocess mode (a leaf: imports nothing of ours).

In that mode every process writes its metrics to its own files in the directory (``counter_<pid>.db``,
``histogram_<pid>.db``, ``gauge_<mode>_<pid>.db``, ...) and ``MultiProcessCollector`` adds up all the files it
finds there. So:

- ``prepare``: the directory exists, is empty (files of an earlier run would be added in) and the workers'
  account can write it, before anything imports the app, since a metric defined at module level opens its
  file on import. The start scripts call it before they look at the app, the config's ``on_starting`` again
  before the first worker (which removes what that look left).
- ``fold_dead_process``: when a worker has exited, its files are folded into one archive file per kind
  (``counter_archive.db``, ``gauge_sum_archive.db``, ...) and removed, so the directory does not grow with
  every recycled worker (MAX_REQUESTS) while the totals stay what they were:

  ====================================  =========================================================
  counter, histogram, summary           values added to the archive's (they only grow)
  gauge ``sum``                         added (a dead process's last value stays in the sum)
  gauge ``min`` / ``max``               the smaller / larger value
  gauge ``mostrecent``                  the value with the later timestamp
  gauge ``all``                         left as they are: each process is reported with its pid
  gauge ``live*``                       removed by ``prometheus_client.multiprocess.mark_process_dead``
  ====================================  =========================================================

  Folding replaces the archive, then removes the dead file. A scrape that reads the directory in between (a
  window of microseconds) counts the dead process twice, or fails if it listed the file before it was removed,
  as it can with ``mark_process_dead`` already; the next scrape is right.

``fold_dead_process`` needs ``prometheus_client`` (0.26) and must run in one process at a time: Gunicorn's
master, from ``child_exit``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["ARCHIVE", "FOLDED_PREFIXES", "fold_dead_process", "prepare", "problem"]

ARCHIVE = "archive"  # in place of the pid: `counter_archive.db`; prometheus_client reads the type from the name

Entry = tuple[float, float]  # (value, timestamp) as prometheus_client's files hold it


def _add(old: Entry, new: Entry) -> Entry:
    return old[0] + new[0], max(old[1], new[1])


def _smaller(old: Entry, new: Entry) -> Entry:
    return new if new[0] < old[0] else old


def _larger(old: Entry, new: Entry) -> Entry:
    return new if new[0] > old[0] else old


def _later(old: Entry, new: Entry) -> Entry:
    return new if new[1] > old[1] else old


# File-name prefix (the part before `_<pid>.db`) -> how a dead process's entry combines with the archive's.
FOLDED_PREFIXES: dict[str, Callable[[Entry, Entry], Entry]] = {
    "counter": _add,
    "histogram": _add,
    "summary": _add,
    "gauge_sum": _add,
    "gauge_min": _smaller,
    "gauge_max": _larger,
    "gauge_mostrecent": _later,
}


def prepare(directory: str, uid: int, gid: int) -> None:
    """Create the directory, empty it, and let the workers' account (``uid``, ``gid``) write it.

    Raises OSError when that is not possible.
    """
    import shutil  # here: only PROMETHEUS_MULTIPROC_DIR needs it, and every start imports this module

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    if os.geteuid() == 0 and (uid, gid) != (0, 0):
        os.chown(path, uid, gid)


def problem(directory: str, error: OSError) -> str:
    """The one line that says ``prepare`` failed."""
    return (
        f"PROMETHEUS_MULTIPROC_DIR={json.dumps(directory)} cannot be prepared ({error.strerror or error}); "
        "allowed: a directory path this container can write"
    )


def fold_dead_process(directory: str, pid: int) -> list[str]:
    """Fold the files of exited process ``pid`` into the archive files and remove them; returns their names.

    Each archive is written anew under a name the collector does not read and renamed into place, so a scrape
    reads either the old archive or the new one, never one being written.
    """
    from prometheus_client.mmap_dict import MmapedDict

    folded: list[str] = []
    for prefix, combine in FOLDED_PREFIXES.items():
        dead = os.path.join(directory, f"{prefix}_{pid}.db")
        try:
            entries = MmapedDict.read_all_values_from_file(dead)
        except FileNotFoundError:
            continue
        archive = os.path.join(directory, f"{prefix}_{ARCHIVE}.db")
        merged: dict[str, Entry] = {}
        if os.path.exists(archive):
            merged = {key: (value, ts) for key, value, ts, _ in MmapedDict.read_all_values_from_file(archive)}
        for key, value, timestamp, _ in entries:
            entry = (value, timestamp)
            merged[key] = combine(merged[key], entry) if key in merged else entry
        temporary = os.path.join(directory, f".{prefix}_{ARCHIVE}.tmp")
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)  # left by an interrupted fold: MmapedDict would keep its entries
        writer = MmapedDict(temporary)
        try:
            for key, (value, timestamp) in merged.items():
                writer.write_value(key, value, timestamp)
        finally:
            writer.close()
        os.replace(temporary, archive)
        os.remove(dead)
        folded.append(os.path.basename(dead))
    return folded
