"""The prestart script: where it is, that bash runs it, that its exports reach the server, failures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from gunicorn_image import prestart

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "/app/prestart.sh"),  # tiangolo's default
        ({"PRE_START_PATH": "/scripts/pre.sh"}, "/scripts/pre.sh"),
        ({"PRE_START_PATH": "scripts/pre.sh"}, "/app/scripts/pre.sh"),  # relative to /app
        ({"PRE_START_PATH": "./pre.sh"}, "/app/pre.sh"),
        ({"PRE_START_PATH": ""}, None),  # empty disables
        ({"PRE_START_PATH": "   "}, None),
    ],
)
def test_prestart_path_resolution(env: dict[str, str], expected: str | None) -> None:
    got = prestart.resolve_prestart_path(env, Path("/app"))
    assert (None if got is None else os.path.normpath(got)) == expected


def base_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KEEP": "kept", "DROP": "dropped"}


@needs_bash
def test_prestart_exports_and_unsets_reach_the_server(app_dir: Path) -> None:
    script = app_dir / "prestart.sh"
    script.write_text('export FOO="from prestart"\nunset DROP\nKEEP="changed-but-not-exported-still-exported"\n')
    env = prestart.run_prestart(script, base_env(), cwd=app_dir)
    assert env["FOO"] == "from prestart"
    assert "DROP" not in env
    assert env["KEEP"] == "changed-but-not-exported-still-exported"  # already exported, as in any shell


@needs_bash
def test_prestart_runs_with_bash_in_the_app_dir(app_dir: Path) -> None:
    script = app_dir / "prestart.sh"  # not executable, no shebang: it is sourced
    script.write_text(
        'declare -A colours=([sky]=blue)\n[[ -n "$BASH_VERSION" ]]\nexport SKY="${colours[sky]}"\nexport WHERE="$(pwd)"\n'
    )
    env = prestart.run_prestart(script, base_env(), cwd=app_dir)
    assert env["SKY"] == "blue"
    assert env["WHERE"] == str(app_dir)


@needs_bash
def test_bash_own_variables_do_not_leak_into_the_server_env(app_dir: Path) -> None:
    script = app_dir / "prestart.sh"
    script.write_text("cd /\n")
    before = base_env() | {"PWD": "/original"}
    env = prestart.run_prestart(script, before, cwd=app_dir)
    assert env["PWD"] == "/original"
    assert "SHLVL" not in env and "_" not in env and "OLDPWD" not in env


@needs_bash
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("exit 3\n", 3),
        ("false\necho never\n", 1),  # like tiangolo's `set -e` start.sh: a failing command stops it
        ("no_such_command_xyz\n", 127),
        ("kill -TERM $$\n", -15),
    ],
)
def test_failing_prestart_stops_startup_with_path_and_status(app_dir: Path, body: str, status: int) -> None:
    script = app_dir / "prestart.sh"
    script.write_text(body)
    with pytest.raises(prestart.PrestartFailed) as caught:
        prestart.run_prestart(script, base_env(), cwd=app_dir)
    assert caught.value.status == status
    message = str(caught.value)
    assert str(script) in message and "PRE_START_PATH" in message and "\n" not in message
    assert (f"exit status {status}" if status > 0 else f"signal {-status}") in message


@needs_bash
def test_prestart_ending_with_exit_0_keeps_the_environment_it_got(app_dir: Path) -> None:
    script = app_dir / "prestart.sh"
    script.write_text("export LOST=yes\nexit 0\n")
    assert prestart.run_prestart(script, base_env(), cwd=app_dir) == base_env()


@needs_bash
def test_background_process_started_by_prestart_does_not_hang_startup(app_dir: Path) -> None:
    script = app_dir / "prestart.sh"
    script.write_text("sleep 30 &\necho $! > bg.pid\nexport STARTED=1\n")
    try:
        env = prestart.run_prestart(script, base_env(), cwd=app_dir)
        assert env["STARTED"] == "1"
    finally:
        pid = int((app_dir / "bg.pid").read_text())
        os.kill(pid, 15)


@needs_bash
def test_large_environment_round_trips(app_dir: Path) -> None:
    script = app_dir / "prestart.sh"
    # More than a pipe buffer (64 KiB) in total; one variable may not exceed 128 KiB (Linux's limit).
    script.write_text(
        'for n in 1 2 3; do export BIG$n="$(head -c 100000 /dev/zero | tr "\\0" x)"; done\nexport NL="a\nb=c"\n'
    )
    env = prestart.run_prestart(script, base_env(), cwd=app_dir)
    assert [len(env[f"BIG{n}"]) for n in (1, 2, 3)] == [100000] * 3
    assert env["NL"] == "a\nb=c"  # values with newlines and "=" survive (NUL-separated)


def test_missing_bash_is_reported_as_a_failed_prestart(app_dir: Path) -> None:
    script = app_dir / "prestart.sh"
    script.write_text("true\n")
    with pytest.raises(prestart.PrestartFailed) as caught:
        prestart.run_prestart(script, base_env(), cwd=app_dir, bash="/nonexistent/bash")
    assert caught.value.status == 127


def test_parse_env_dump_restores_bash_variables() -> None:
    dump = b"A=1\0_=/usr/bin/env\0SHLVL=2\0PWD=/elsewhere\0EMPTY=\0"
    assert prestart.parse_env_dump(dump, previous={"PWD": "/app"}) == {"A": "1", "EMPTY": "", "PWD": "/app"}
