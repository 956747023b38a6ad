"""Changes to third-party servers, in one place, each guarded by the versions it was written for.

Each module here changes a private part of Gunicorn, Uvicorn or uvicorn-worker for a reason a test shows
(its docstring says which). `PATCHES` lists them with the versions each follows. In the master,
`check()` reads the installed versions (`installed_version`): a patch whose server is installed in a
version it does not know is skipped, with one warning line naming the package and the version, and the
server serves as it would without it. In each worker, `apply()` applies the patches that passed; one that
fails anyway is logged and skipped, never a crashed worker.

This package imports nothing of ours; each patch imports its server only when it is applied.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_HEADER_TIMEOUT", "PATCHES", "Patch", "apply", "check", "version_follows"]

# HEADER_TIMEOUT's default, seconds (here, not in uvicorn_limits, so the start script need not import that).
DEFAULT_HEADER_TIMEOUT = 10.0


@dataclass(frozen=True)
class Patch:
    module: str  # the module in this package, with `apply_patch(worker, cfg, header_timeout)`
    follows: Mapping[str, str]  # distribution -> the version prefix the patch was written for, e.g. "27.0."
    without_it: str  # what the server does when the patch is skipped, for the warning line
    needs: tuple[str, ...] = field(default=())  # distributions that must be installed for the patch to matter


PATCHES: tuple[Patch, ...] = (
    Patch("gthread_heads", {"gunicorn": "27.0."}, "gthread pool threads read request heads themselves",
          needs=("gunicorn",)),
    Patch("gunicorn_error_pages", {"gunicorn": "27.0."}, "Gunicorn's own error pages are sent as they are",
          needs=("gunicorn",)),
    Patch("uvicorn_limits", {"uvicorn": "0.54."}, "Uvicorn workers have no request-head limits or HEADER_TIMEOUT",
          needs=("uvicorn",)),
    Patch("uvicorn_drain", {"uvicorn": "0.54.", "uvicorn-worker": "0.4."},
          "a stopping Uvicorn worker closes connections that have not sent their request yet", needs=("uvicorn",)),
    Patch("uvicorn_accept", {"uvicorn": "0.54.", "uvloop": "0.23."},
          "Uvicorn workers on uvloop leave new connections queued behind kept-alive ones", needs=("uvicorn", "uvloop")),
)


def version_follows(version: str, prefix: str) -> bool:
    """Whether `version` is in the series `prefix` names: "27.0.1" follows "27.0."; "27.10.0" does not."""
    return (version + ".").startswith(prefix)


def normalized(distribution: str) -> str:
    """A distribution's name as installers spell it in folder names: "uvicorn-worker" -> "uvicorn_worker"."""
    return distribution.lower().replace("-", "_").replace(".", "_")


@functools.cache
def dist_info_versions() -> dict[str, str]:
    """Normalized name -> version, from the `<name>-<version>.dist-info` folders on sys.path, first one wins
    (as imports do). One listing per folder, no file read: on some storage drivers every file a process
    opens costs it (fuse-overlayfs, measured), and the master's start is on every container's cold start."""
    versions: dict[str, str] = {}
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue  # a zip, a missing folder
        for name in names:
            if name.endswith(".dist-info"):
                project, dash, version = name[: -len(".dist-info")].rpartition("-")
                if dash:
                    versions.setdefault(normalized(project), version)
    return versions


@functools.cache
def installed_version(distribution: str) -> str | None:
    """The version installed, or None. `importlib.metadata` for what has no dist-info folder (eggs, some
    editable installs, or nothing at all)."""
    found = dist_info_versions().get(normalized(distribution))
    if found is not None:
        return found
    from importlib import metadata  # here: only a distribution installed another way, or not at all

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def check(
    warn: Callable[[str], None],
    patches: Iterable[Patch] = PATCHES,
    version_of: Callable[[str], str | None] = installed_version,
) -> tuple[str, ...]:
    """The modules of the patches to apply here; one `warn` line for each patch skipped for a version."""
    usable = []
    for patch in patches:
        if any(version_of(name) is None for name in patch.needs):
            continue  # its server is not installed in this image: nothing to patch
        unknown = [
            f"{name} {version}"
            for name, prefix in patch.follows.items()
            if (version := version_of(name)) is not None and not version_follows(version, prefix)
        ]
        if unknown:
            written_for = ", ".join(f"{name} {prefix}*" for name, prefix in patch.follows.items())
            warn(f"Patch {patch.module} skipped: found {', '.join(unknown)}, it was written for {written_for}; "
                 f"{patch.without_it}")
            continue
        usable.append(patch.module)
    return tuple(usable)


def apply(modules: Iterable[str], worker: Any, cfg: Any, header_timeout: float | None,
          warn: Callable[[str], None]) -> None:
    """In a new worker, before it loads the app: apply each checked patch that concerns this worker."""
    for module in modules:
        try:
            importlib.import_module(f"{__name__}.{module}").apply_patch(worker, cfg, header_timeout)
        except Exception as error:  # noqa: BLE001  (a patch must never cost a worker)
            warn(f"Patch {module} not applied: {error!r}; the worker serves without it")


def private_name_missing(reference: str) -> str | None:
    """Why a private name a patch relies on (`PRIVATE_NAMES`) is not there, or None when it is.

    "a.b.C.method" must resolve by import and attribute; "a.b.C.method#name" must also use `name` in that
    function's code (an attribute its body assigns or reads, a global it looks up).
    """
    path, _, used = reference.partition("#")
    parts = path.split(".")
    target: Any = None
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                return f"{reference}: no {attribute!r}"
            target = getattr(target, attribute)
        break
    else:
        return f"{reference}: cannot import {parts[0]}"
    if used:
        code = getattr(target, "__code__", None)
        if code is None or used not in code.co_names:
            return f"{reference}: {path} does not use {used!r}"
    return None
