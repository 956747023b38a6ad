"""The Python images the family is built on: `python:X.Y-slim` (final stages) and `python:X.Y` (builder
stages that compile), pulled when possible, otherwise local stand-ins made from Debian's packages.

A stand-in is a Debian root file system (mmdebstrap, minbase) with Debian's python3.X, imported as
`local/python:X.Y-slim` (interpreter, venv, CA certificates) and `local/python:X.Y` (plus gcc and the
Python headers). Its apt sources are the Debian archive the machine itself uses (read at run time, so
a downstream `RUN apt-get install` works here); the apt options used to build it are not left in it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass

import machine
import project

PYTHON_REPO = os.environ.get("PYTHON_REPO") or "python"
STANDIN_REPO = "local/python"
SLIM_PACKAGES = ["ca-certificates", "netbase", "tzdata"]
BUILD_PACKAGES = ["gcc", "libc6-dev", "make", "patch"]


@dataclass(frozen=True)
class PythonBase:
    python: str
    slim: str  # final stages
    full: str  # builder stages that compile
    origin: str  # "pulled", "local", "stand-in"


class Unavailable(Exception):
    """This Python cannot be had on this machine; the message says why."""


def _exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def _pull(ref: str) -> bool:
    return subprocess.run(["docker", "pull", "-q", ref], capture_output=True).returncode == 0


def _standin(python: str, suite: str, ref: str, packages: list[str]) -> None:
    if _exists(ref):
        return
    if subprocess.run(["sh", "-c", "command -v mmdebstrap"], capture_output=True).returncode != 0:
        raise Unavailable("mmdebstrap is not installed (apt-get install mmdebstrap), so no local stand-in can be made")
    uri = machine.debian_uri()
    hooks = [
        # `python`/`python3` mean this Python, as in the official image, even where the suite's default differs.
        f'ln -sf /usr/bin/python{python} "$1/usr/local/bin/python3"',
        f'ln -sf /usr/bin/python{python} "$1/usr/local/bin/python"',
        # Leave no trace of the apt options the build needed (e.g. Check-Valid-Until) in the image.
        'rm -f "$1/etc/apt/apt.conf.d/99mmdebstrap"',
    ]
    command = ["mmdebstrap", "--variant=minbase",
               "--include=" + ",".join([f"python{python}", f"python{python}-venv", *packages])]
    command += [f"--aptopt={option}" for option in machine.apt_options()]
    command += [f"--customize-hook={hook}" for hook in hooks]
    command += [suite, "-"] + ([f"deb {uri} {suite} main"] if uri else [])
    importer = ["docker", "import",
                "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--change", "ENV LANG=C.UTF-8",
                "--change", 'CMD ["python3"]',
                "--change", f'LABEL org.opencontainers.image.description="Local stand-in for python:{python} from Debian {suite}"',
                "-", ref]
    print(f"  making stand-in {ref} from Debian {suite} (mmdebstrap, about a minute)", flush=True)
    started = time.monotonic()
    pipeline = f"{shlex.join(command)} | {shlex.join(importer)}"
    # A session of its own and no terminal: mmdebstrap's namespaces must not touch the caller's.
    result = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith(("E:", "Error"))]
        last = (errors or result.stderr.strip().splitlines() or ["no output"])[0]
        raise Unavailable(f"making the stand-in {ref} failed: {last}")
    print(f"  made {ref} in {time.monotonic() - started:.0f}s", flush=True)


def ensure(python: str) -> PythonBase:
    """Find, pull or make the two Python images for one Python version."""
    slim, full = f"{PYTHON_REPO}:{python}-slim", f"{PYTHON_REPO}:{python}"
    if _exists(slim) and _exists(full):
        return PythonBase(python, slim, full, "local")
    if (_exists(slim) or _pull(slim)) and (_exists(full) or _pull(full)):
        return PythonBase(python, slim, full, "pulled")
    suite = project.debian_suite(python)
    if suite is None:
        raise Unavailable(f"{slim} cannot be pulled and no Debian suite ships python{python}")
    slim_standin, full_standin = f"{STANDIN_REPO}:{python}-slim", f"{STANDIN_REPO}:{python}"
    _standin(python, suite, slim_standin, SLIM_PACKAGES)
    _standin(python, suite, full_standin, SLIM_PACKAGES + BUILD_PACKAGES + [f"python{python}-dev"])
    return PythonBase(python, slim_standin, full_standin, "stand-in")


if __name__ == "__main__":
    for version in sys.argv[1:] or project.PYTHONS:
        try:
            print(ensure(version))
        except Unavailable as error:
            print(f"python {version}: skipped: {error}")
