"""The Python images the family is built on: `python:X.Y-slim` (final stages) and `python:X.Y` (builder
stages that compile), pulled when possible, otherwise local stand-ins made from Debian's packages.

A stand-in is a Debian root file system (mmdebstrap, minbase) with Debian's python3.X, made into
`local/python:X.Y-slim` (interpreter, venv, CA certificates) and `local/python:X.Y` (plus gcc and the
Python headers) by a `FROM scratch` build. Its apt sources are the Debian archive the machine itself
uses (read at run time, so a downstream `RUN apt-get install` works here); the apt options used to
build it are not left in it. mmdebstrap is installed with apt when it is missing and this runs as root.

For a platform other than the host's (tools/platforms.py) every name gets the architecture as a suffix,
`python:3.11-slim-arm64`, `local/python:3.11-slim-arm64`: Docker keeps one image per tag.
"""

from __future__ import annotations

import os
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


STANDIN_DOCKERFILE = """FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
LABEL org.opencontainers.image.description="Local stand-in for python:{python} from Debian {suite}"
CMD ["python3"]
"""


def _standin(python: str, suite: str, ref: str, packages: list[str], platform: platforms.Platform) -> None:
    if _exists(ref):
        return
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
    print(f"  making stand-in {ref} from Debian {suite} for {platform.name} (mmdebstrap, a minute or more)",
          flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="standin-") as context:
        command = ["mmdebstrap", "--variant=minbase", f"--architectures={platform.debian}",
                   "--include=" + ",".join([f"python{python}", f"python{python}-venv", *packages])]
        command += [f"--aptopt={option}" for option in machine.apt_options()]
        command += [f"--customize-hook={hook}" for hook in hooks]
        command += [suite, str(Path(context) / "rootfs.tar")] + ([f"deb {uri} {suite} main"] if uri else [])
        (Path(context) / "Dockerfile").write_text(STANDIN_DOCKERFILE.format(python=python, suite=suite))
        importer = ["docker", "build", "-q", "--platform", platform.name, "--tag", ref, context]
        for step in (command, importer):
            # A session of its own and no terminal: mmdebstrap's namespaces must not touch the caller's.
            result = subprocess.run(step, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            if result.returncode != 0:
                errors = [line for line in result.stderr.splitlines() if line.startswith(("E:", "Error"))]
                last = (errors or result.stderr.strip().splitlines() or ["no output"])[0]
                raise Unavailable(f"making the stand-in {ref} failed: {last}")
    print(f"  made {ref} in {time.monotonic() - started:.0f}s", flush=True)


def ensure(python: str, platform: platforms.Platform | None = None) -> PythonBase:
    """Find, pull or make the two Python images for one Python version and platform (default: the host's)."""
    platform = platform or platforms.host()
    tail = platforms.suffix(platform)
    slim, full = f"{PYTHON_REPO}:{python}-slim", f"{PYTHON_REPO}:{python}"
    if _exists(slim + tail) and _exists(full + tail):
        return PythonBase(python, slim + tail, full + tail, "local")
    pulled: list[str] = []
    for ref in (slim, full):
        local = ref + tail if _exists(ref + tail) else _pull(ref, platform)
        if local is None:
            break
        pulled.append(local)
    if len(pulled) == 2:
        return PythonBase(python, pulled[0], pulled[1], "pulled")
    suite = project.debian_suite(python)
    if suite is None:
        raise Unavailable(f"{slim} cannot be pulled and no Debian suite ships python{python}")
    slim_standin, full_standin = f"{STANDIN_REPO}:{python}-slim{tail}", f"{STANDIN_REPO}:{python}{tail}"
    _standin(python, suite, slim_standin, SLIM_PACKAGES, platform)
    _standin(python, suite, full_standin, SLIM_PACKAGES + BUILD_PACKAGES + [f"python{python}-dev"], platform)
    return PythonBase(python, slim_standin, full_standin, "stand-in")


if __name__ == "__main__":
    for version in sys.argv[1:] or project.PYTHONS:
        try:
            print(ensure(version))
        except Unavailable as error:
            print(f"python {version}: skipped: {error}")
