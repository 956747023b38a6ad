"""The Python images the family is built on: `python:X.Y-slim` (final stages) and `python:X.Y` (builder
stages that compile), pulled when possible, otherwise local stand-ins made from Debian's packages.

A stand-in is a Debian root file system (mmdebstrap, minbase) with Debian's python3.X, made into
`local/python:X.Y-slim` (interpreter, venv, CA certificates) by a `FROM scratch` build, and
`local/python:X.Y` (plus gcc and the Python headers, installed on the slim one by its own apt). Its apt
sources are the Debian archive the machine itself uses (read at run time, so a downstream
`RUN apt-get install` works here); the apt options used to build it are not left in it. mmdebstrap is
installed with apt when it is missing and this runs as root.

For a platform other than the host's (tools/platforms.py) every name gets the architecture as a suffix,
`python:3.11-slim-arm64`, `local/python:3.11-slim-arm64`: Docker keeps one image per tag.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import host_tools
import machine
import platforms
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


def _pull(ref: str, platform: platforms.Platform) -> str | None:
    """Pull `ref` for `platform`; returns the local name it then has (suffixed for another platform,
    the plain tag left as it was), or None when it cannot be pulled."""
    if platform == platforms.host():
        return ref if subprocess.run(["docker", "pull", "-q", ref], capture_output=True).returncode == 0 else None
    before = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref],
                            capture_output=True, text=True).stdout.strip()
    if subprocess.run(["docker", "pull", "-q", "--platform", platform.name, ref], capture_output=True).returncode:
        return None
    local = ref + platforms.suffix(platform)
    subprocess.run(["docker", "tag", ref, local], check=True, capture_output=True)
    restore = ["docker", "tag", before, ref] if before else ["docker", "rmi", ref]
    subprocess.run(restore, check=True, capture_output=True)
    return local


SLIM_DOCKERFILE = """FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
LABEL org.opencontainers.image.description="Local stand-in for python:{python}-slim from Debian {suite}"
CMD ["python3"]
"""
# The compiling stand-in is the slim one plus the build tools, installed by its own apt: under emulation that
# is a few minutes, where a second root file system from scratch took twice as long.
FULL_DOCKERFILE = """FROM {slim}
RUN apt-get {options} update -qq \\
 && apt-get {options} install -y -qq --no-install-recommends {packages} \\
 && rm -rf /var/lib/apt/lists/*
LABEL org.opencontainers.image.description="Local stand-in for python:{python} from Debian {suite}"
"""


def _run(step: list[str], ref: str) -> None:
    # A session of its own and no terminal: mmdebstrap's namespaces must not touch the caller's.
    result = subprocess.run(step, capture_output=True, text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith(("E:", "Error"))]
        last = (errors or result.stderr.strip().splitlines() or ["no output"])[0]
        raise Unavailable(f"making the stand-in {ref} failed: {last}")


def _standin(python: str, suite: str, ref: str, platform: platforms.Platform, slim: str = "") -> None:
    """Make the slim stand-in `ref` with mmdebstrap or, given `slim`, the compiling one on top of it."""
    if _exists(ref):
        return
    how = f"on {slim} with apt" if slim else "with mmdebstrap"
    print(f"  making stand-in {ref} from Debian {suite} for {platform.name} ({how}, a minute or more)", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="standin-") as context:
        if slim:
            options = " ".join("-o " + shlex.quote(option.replace(' "', "=").rstrip('"'))
                               for option in machine.apt_options())
            packages = " ".join(BUILD_PACKAGES + [f"python{python}-dev"])
            dockerfile = FULL_DOCKERFILE.format(slim=slim, options=options, packages=packages, python=python, suite=suite)
        else:
            _root_file_system(python, suite, platform, Path(context) / "rootfs.tar", ref)
            dockerfile = SLIM_DOCKERFILE.format(python=python, suite=suite)
        (Path(context) / "Dockerfile").write_text(dockerfile)
        _run(["docker", "build", "-q", "--platform", platform.name, "--tag", ref, context], ref)
    print(f"  made {ref} in {time.monotonic() - started:.0f}s", flush=True)


def _root_file_system(python: str, suite: str, platform: platforms.Platform, tarball: Path, ref: str) -> None:
    try:
        host_tools.ensure({"mmdebstrap": "mmdebstrap"}, f"to make {ref}, as python:{python}-slim cannot be pulled")
    except host_tools.Missing as error:
        raise Unavailable(str(error)) from None
    uri = machine.debian_uri()
    hooks = [
        # `python`/`python3` mean this Python, as in the official image, even where the suite's default differs.
        f'ln -sf /usr/bin/python{python} "$1/usr/local/bin/python3"',
        f'ln -sf /usr/bin/python{python} "$1/usr/local/bin/python"',
        # Leave no trace of the apt options the build needed (e.g. Check-Valid-Until) in the image.
        'rm -f "$1/etc/apt/apt.conf.d/99mmdebstrap"',
    ]
    command = ["mmdebstrap", "--variant=minbase", f"--architectures={platform.debian}",
               "--include=" + ",".join([f"python{python}", f"python{python}-venv", *SLIM_PACKAGES])]
    command += [f"--aptopt={option}" for option in machine.apt_options()]
    command += [f"--customize-hook={hook}" for hook in hooks]
    command += [suite, str(tarball)] + ([f"deb {uri} {suite} main"] if uri else [])
    _run(command, ref)


def ensure(python: str, platform: platforms.Platform | None = None, compiling: bool = True) -> PythonBase:
    """Find, pull or make the Python images for one Python version and platform (default: the host's): the
    slim one, and the compiling one unless no image to build needs it (`compiling`; its `full` is then "")."""
    platform = platform or platforms.host()
    tail = platforms.suffix(platform)
    slim, full = f"{PYTHON_REPO}:{python}-slim", f"{PYTHON_REPO}:{python}"
    wanted = [slim, full] if compiling else [slim]
    if all(_exists(ref + tail) for ref in wanted):
        return PythonBase(python, slim + tail, full + tail if compiling else "", "local")
    pulled: list[str] = []
    for ref in wanted:
        local = ref + tail if _exists(ref + tail) else _pull(ref, platform)
        if local is None:
            break
        pulled.append(local)
    if len(pulled) == len(wanted):
        return PythonBase(python, pulled[0], pulled[1] if compiling else "", "pulled")
    suite = project.debian_suite(python)
    if suite is None:
        raise Unavailable(f"{slim} cannot be pulled and no Debian suite ships python{python}")
    slim_standin, full_standin = f"{STANDIN_REPO}:{python}-slim{tail}", f"{STANDIN_REPO}:{python}{tail}"
    _standin(python, suite, slim_standin, platform)
    if not compiling:
        return PythonBase(python, slim_standin, "", "stand-in")
    _standin(python, suite, full_standin, platform, slim=slim_standin)
    return PythonBase(python, slim_standin, full_standin, "stand-in")


if __name__ == "__main__":
    for version in sys.argv[1:] or project.PYTHONS:
        try:
            print(ensure(version))
        except Unavailable as error:
            print(f"python {version}: skipped: {error}")
