"""The platforms the family is built for (`PLATFORMS=linux/amd64,linux/arm64`; the host's one by default).

A platform other than the host's runs its build steps under qemu user emulation: `ensure_emulation`
installs qemu-user-static when it can, registers it with the kernel (binfmt_misc, with the `F` flag so it
works inside containers) and says so. Docker's classic image store keeps one image per tag, so an image
built for another platform is tagged with its architecture, `org/base:py3.11-arm64`, beside the host's
`org/base:py3.11`; `make push` joins them into one manifest list per tag.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import host_tools
import project


@dataclass(frozen=True)
class Platform:
    name: str  # Docker's: linux/arm64
    arch: str  # Docker's architecture, also the local tag suffix: arm64
    debian: str  # Debian's architecture (mmdebstrap --architectures): arm64
    machine: str  # what platform.machine() answers there, and qemu's name for it: aarch64


KNOWN = {p.name: p for p in (Platform("linux/amd64", "amd64", "amd64", "x86_64"),
                             Platform("linux/arm64", "arm64", "arm64", "aarch64"))}
BINFMT = Path("/proc/sys/fs/binfmt_misc")


class Unsupported(Exception):
    """A platform that cannot be built here; the message says why and what to do."""


@functools.lru_cache(maxsize=1)
def host() -> Platform:
    """The Docker engine's own platform."""
    result = subprocess.run(["docker", "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"],
                            capture_output=True, text=True)
    name = result.stdout.strip()
    if result.returncode != 0 or name not in KNOWN:
        raise Unsupported(f"the Docker engine's platform is {name or 'unknown'} ({result.stderr.strip()}); "
                          f"known: {', '.join(KNOWN)}")
    return KNOWN[name]


def parse(text: str) -> list[Platform]:
    """`linux/amd64,linux/arm64` -> platforms in that order; empty -> the host's."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        return [host()]
    unknown = [name for name in names if name not in KNOWN]
    if unknown:
        raise Unsupported(f"PLATFORMS={text}: unknown platform {unknown[0]!r}; known: {', '.join(KNOWN)}")
    return [KNOWN[name] for name in dict.fromkeys(names)]


def suffix(platform: Platform) -> str:
    """The local tag suffix: none for the host's platform, `-arm64` for another."""
    return "" if platform == host() else f"-{platform.arch}"


def where(platform: Platform) -> str:
    """What output lines add for another platform than the host's: ` linux/arm64` (nothing for the host's)."""
    return "" if platform == host() else f" {platform.name}"


def local_ref(image: str, python: str, platform: Platform) -> str:
    """The local tag of one image, Python and platform: `org/base:py3.11` (host), `org/base:py3.11-arm64`."""
    return project.image_ref(image, python) + suffix(platform)


def _registered(platform: Platform) -> str:
    """'' when qemu is registered for the platform with the F flag, else what is wrong."""
    entry = BINFMT / f"qemu-{platform.machine}"
    if not entry.is_file():
        return f"no binfmt_misc entry {entry}"
    lines = entry.read_text().splitlines()
    flags = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
    if not lines or lines[0] != "enabled":
        return f"{entry} is {lines[0] if lines else 'empty'}"
    if "F" not in flags:
        return f"{entry} lacks the F flag (flags: {flags or 'none'}), so containers cannot use it"
    return ""


def ensure_emulation(platform: Platform) -> None:
    """Make RUN steps for `platform` work on this host (nothing to do for the host's own platform)."""
    if platform == host():
        return
    what = f"[{platform.name}] emulated on this {host().name} host by qemu-{platform.machine} (binfmt_misc)"
    if not _registered(platform):
        print(f"{what}; build steps run several times slower than native", flush=True)
        return
    host_tools.ensure({f"qemu-{platform.machine}-static": "qemu-user-static", "update-binfmts": "binfmt-support"},
                      f"to build for {platform.name} on this {host().name} host")
    setup = [["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)]] if not (BINFMT / "register").exists() else []
    setup.append(["update-binfmts", "--enable", f"qemu-{platform.machine}"])
    if os.geteuid() != 0:
        commands = " && ".join("sudo " + " ".join(command) for command in setup)
        raise Unsupported(f"{platform.name} needs qemu registered with binfmt_misc ({_registered(platform)}): "
                          f"run `{commands}`")
    for command in setup:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise Unsupported(f"`{' '.join(command)}` failed: {(result.stderr.strip() or 'no output').splitlines()[0]}")
    problem = _registered(platform)
    if problem:
        raise Unsupported(f"qemu for {platform.name} is still not usable: {problem}")
    print(f"{what}, registered now; build steps run several times slower than native", flush=True)
