"""How much memory this container may use, and sizes like `200M` (a leaf: only `cpu`'s cgroup-tree helpers).

The limit is the smallest of the container's cgroup and its visible ancestors: cgroup v2 `memory.max`
("max" means none), cgroup v1 `memory.limit_in_bytes` (a huge number, near 2**63, means none). No limit
gives None, so the worker count is not capped by memory.
"""

from __future__ import annotations

import re
from pathlib import Path

from gunicorn_image.cpu import CGROUP_ROOT, SELF_CGROUP, own_dir_and_ancestors, parse_self_cgroup, read_text

# cgroup v1 reports "no limit" as the largest page-aligned value; anything this large is no limit.
NO_LIMIT_ABOVE = 1 << 60
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:ib?|b)?\s*$", re.IGNORECASE)


def memory_limit(cgroup_root: Path = CGROUP_ROOT, self_cgroup_text: str | None = None) -> int | None:
    """The container's memory limit in bytes, or None when it has none."""
    if self_cgroup_text is None:
        self_cgroup_text = read_text(SELF_CGROUP) or ""
    v1_paths, v2_path = parse_self_cgroup(self_cgroup_text)
    limits: list[int] = []
    if (cgroup_root / "cgroup.controllers").exists():
        for directory in own_dir_and_ancestors(cgroup_root, v2_path or "/"):
            limits += _limit(directory / "memory.max")
    mount = cgroup_root / "memory"
    if mount.is_dir():
        for directory in own_dir_and_ancestors(mount, v1_paths.get("memory", "/")):
            limits += _limit(directory / "memory.limit_in_bytes")
    return min(limits, default=None)


def _limit(path: Path) -> list[int]:
    text = (read_text(path) or "").strip()
    if not text.isdigit() or int(text) >= NO_LIMIT_ABOVE:
        return []
    return [int(text)]


def parse_size(text: str) -> int:
    """`200M`, `1G`, `512Mi`, `1.5g` or plain bytes -> bytes (units are powers of 1024). ValueError otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(text)
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise ValueError(text)
    return size


def shown(size: int | None) -> str | None:
    """Bytes as the largest whole unit: 209715200 -> "200M"."""
    if size is None:
        return None
    for unit in ("T", "G", "M", "K"):
        if size % _UNITS[unit.lower()] == 0:
            return f"{size // _UNITS[unit.lower()]}{unit}"
    return str(size)
