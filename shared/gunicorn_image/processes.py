"""Process housekeeping for the server's PID 1 and its workers (a leaf: imports nothing of ours).

- ``reap_exited_children``: the container's PID 1 inherits every orphan. Gunicorn's master reaps them when
  SIGCHLD arrives, but an orphan that ended before Gunicorn installed its SIGCHLD handler (a prestart's
  background job, say) sent its signal to nobody and stays a zombie. The start scripts reap before they exec
  the server, and the default config's ``when_ready`` hook reaps once Gunicorn handles SIGCHLD.
- ``home_after_switch``: workers that switch from root to the ``app`` account keep root's ``HOME``
  (``/root``, not theirs to write); they get the account's home instead.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Collection
from typing import Any

__all__ = ["home_after_switch", "reap_exited_children"]

# More zombies than this at once is not a prestart's leftovers; the rest wait for Gunicorn's SIGCHLD handling.
_MAX_REAPED = 10_000


def _peek_exited(waitid: Callable[..., Any]) -> int | None:
    """The pid of a child that has exited, without reaping it; None when there is none (or no child at all)."""
    try:
        info = waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    return info.si_pid if info is not None and info.si_pid else None


def reap_exited_children(
    keep: Collection[int] = (),
    waitid: Callable[..., Any] | None = getattr(os, "waitid", None),  # noqa: B008  (Linux has it)
    waitpid: Callable[[int, int], tuple[int, int]] = os.waitpid,
) -> list[int]:
    """Reap every child of this process that has already exited, except those in ``keep``; returns their pids.

    Never waits for a running child. Each child is looked at before it is reaped, so a child the caller still
    has to account for (``keep``: e.g. Gunicorn's dirty arbiter) is left for its owner, and so is any child
    that exited after it.
    """
    if waitid is None:  # not Linux: leave it to the server
        return []
    reaped: list[int] = []
    for _ in range(_MAX_REAPED):
        pid = _peek_exited(waitid)
        if pid is None or pid in keep:
            break
        try:
            waitpid(pid, 0)  # it has exited: returns at once
        except ChildProcessError:
            break  # reaped by someone else meanwhile
        reaped.append(pid)
    return reaped


def home_after_switch(
    uid: int, current: str | None, lookup: Callable[[int], pwd.struct_passwd] = pwd.getpwuid
) -> str | None:
    """The ``HOME`` for a process switching from root to ``uid``, or None to keep ``current``.

    Only root's home (or none at all) is replaced, so a ``HOME`` the user set stays. An account without a
    passwd entry gets ``/``, as ``docker run --user`` gives it.
    """
    try:
        root_home = lookup(0).pw_dir
    except KeyError:
        root_home = "/root"
    if current not in (None, "", root_home):
        return None
    try:
        home = lookup(uid).pw_dir
    except KeyError:
        return "/"
    return home or "/"
