"""Process housekeeping: reaping orphans that ended before the server handled SIGCHLD, and the workers' HOME."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types

import pytest
from gunicorn_image import processes


class FakeChildren:
    """Stands in for os.waitid/os.waitpid: `exited` are zombies, `running` are children still running."""

    def __init__(self, exited: list[int], running: int = 0) -> None:
        self.exited = list(exited)
        self.running = running
        self.waited: list[tuple[int, int]] = []

    def waitid(self, idtype: int, ident: int, options: int):
        assert options & os.WNOWAIT and options & os.WNOHANG, "must look without reaping and without blocking"
        if not self.exited and not self.running:
            raise ChildProcessError
        return types.SimpleNamespace(si_pid=self.exited[0]) if self.exited else None

    def waitpid(self, pid: int, options: int) -> tuple[int, int]:
        self.waited.append((pid, options))
        self.exited.remove(pid)
        return pid, 0


def test_every_ended_orphan_is_reaped_until_none_is_left() -> None:
    children = FakeChildren(exited=[41, 42, 43])
    assert processes.reap_exited_children(waitid=children.waitid, waitpid=children.waitpid) == [41, 42, 43]
    assert children.waited == [(41, 0), (42, 0), (43, 0)]


def test_running_children_are_not_waited_for() -> None:
    children = FakeChildren(exited=[7], running=2)
    assert processes.reap_exited_children(waitid=children.waitid, waitpid=children.waitpid) == [7]


def test_no_children_at_all_is_fine() -> None:
    children = FakeChildren(exited=[])
    assert processes.reap_exited_children(waitid=children.waitid, waitpid=children.waitpid) == []


def test_a_child_someone_else_accounts_for_is_left_to_them() -> None:
    children = FakeChildren(exited=[9, 10])
    assert processes.reap_exited_children(keep={9}, waitid=children.waitid, waitpid=children.waitpid) == []
    assert children.exited == [9, 10]


def test_reaping_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(processes, "_MAX_REAPED", 5)
    waited: list[int] = []

    def endless_waitid(*_):
        return types.SimpleNamespace(si_pid=100 + len(waited))

    def waitpid(pid: int, _options: int) -> tuple[int, int]:
        waited.append(pid)
        return pid, 0

    assert len(processes.reap_exited_children(waitid=endless_waitid, waitpid=waitpid)) == 5


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="os.waitid is Linux-only")
def test_a_real_ended_child_is_reaped_and_a_running_one_is_not() -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until `ended` is a zombie
            with open(f"/proc/{ended.pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.02)
        reaped = processes.reap_exited_children()
        assert ended.pid in reaped and running.pid not in reaped, (
            f"expected the ended child {ended.pid} reaped and not the running {running.pid}, got {reaped}"
        )
        assert running.poll() is None
    finally:
        running.kill()
        running.wait(10)


ACCOUNTS = {0: types.SimpleNamespace(pw_dir="/root"), 1000: types.SimpleNamespace(pw_dir="/app")}  # as pwd has them


def lookup(uid: int) -> types.SimpleNamespace:
    return ACCOUNTS[uid]  # KeyError for an account without a passwd entry, as pwd.getpwuid


@pytest.mark.parametrize(
    ("uid", "current", "expected"),
    [
        (1000, "/root", "/app"),  # Docker's HOME for root: replaced by the account's
        (1000, None, "/app"),
        (1000, "", "/app"),
        (1000, "/data", None),  # set by the user: kept
        (4242, "/root", "/"),  # no passwd entry: / as `docker run --user 4242` gives
    ],
)
def test_home_after_switching_from_root(uid: int, current: str | None, expected: str | None) -> None:
    assert processes.home_after_switch(uid, current, lookup=lookup) == expected
