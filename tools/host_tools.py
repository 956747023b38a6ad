"""Host commands the build needs beyond Docker and Python: found on PATH, or installed with apt-get when
this runs as root on a Debian-like host (saying what it installs and why); anywhere else the error
names the exact command to run.

    mmdebstrap        local Python stand-ins, when python:X.Y-slim cannot be pulled
    qemu-user-static  build steps for a platform other than the host's (with binfmt-support)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

LOCK = Path("/tmp/image-family-host-tools.lock")  # two builds at once (.ci/run) take turns with apt


class Missing(Exception):
    """A host command is missing and could not be installed; the message says what to run."""


def _apt(arguments: list[str]) -> None:
    command = ["apt-get", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.startswith("E:")] or result.stderr.splitlines()
        raise Missing(f"`{' '.join(command)}` failed: {(lines or ['no output'])[0]}")


def ensure(commands: dict[str, str], why: str) -> None:
    """Make every command in `commands` (command -> the Debian package that has it) available."""
    packages = sorted({package for command, package in commands.items() if shutil.which(command) is None})
    if not packages:
        return
    names = " ".join(packages)
    if shutil.which("apt-get") is None:
        raise Missing(f"{names} (needed {why}) is not installed: install it with this system's package manager")
    if os.geteuid() != 0:
        raise Missing(f"{names} (needed {why}) is not installed: run `sudo apt-get install {names}`")
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        packages = sorted({package for command, package in commands.items() if shutil.which(command) is None})
        if packages:
            print(f"  installing {' '.join(packages)} with apt-get (needed {why})", flush=True)
            _apt(["update", "-qq"])
            _apt(["install", "-y", "-qq", *packages])
    still = sorted(command for command in commands if shutil.which(command) is None)
    if still:
        raise Missing(f"apt-get installed {names} but {' '.join(still)} is still not on PATH")
