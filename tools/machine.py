"""How this machine reaches its package registries, read at run time and never written into the repo.

Two things come from here:
- the apt URI and options a Debian root file system is built with (for local Python stand-ins);
- a pip configuration (index, extra index, trusted hosts, CA bundle) copied into `.build/pip/`,
  which the builder stages of the Dockerfiles use and the final stages never see.
On a normal Docker host with no special configuration both are empty and the defaults apply.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from project import ROOT

PIP_CONTEXT = ROOT / ".build" / "pip"
PIP_CONTEXT_IN_BUILD = "/tmp/pip-net"  # where the builder stages copy .build/pip/
PIP_KEYS_CARRIED = ("index-url", "extra-index-url", "trusted-host", "cert", "default-timeout")


def debian_uri() -> str | None:
    """The first Debian archive URI in the machine's apt sources (not the security archive), or None
    to let mmdebstrap use its own default mirror."""
    texts: list[str] = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.suffix in (".list", ".sources") and path.is_file():
            texts.append(path.read_text(errors="replace"))
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            match = re.match(r"^URIs:\s*(\S+)", line) or re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", line)
            if match and "security" not in match.group(1):
                return match.group(1).rstrip("/")
    return None


def apt_options() -> list[str]:
    """apt options the machine needs for old snapshots (e.g. Check-Valid-Until false), as `--aptopt` values."""
    options = []
    for name in ("Acquire::Check-Valid-Until", "Acquire::Check-Date"):
        try:
            out = subprocess.run(["apt-config", "dump", name], capture_output=True, text=True).stdout
        except OSError:
            return []
        for line in out.splitlines():
            if line.startswith(name + " "):
                options.append(line.rstrip(";"))
    return options


def host_pip_config() -> dict[str, str]:
    """The machine's pip settings that matter for reaching the index, from `pip config list` (files and env)."""
    try:
        out = subprocess.run(
            ["python3", "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    settings: dict[str, str] = {}
    for line in out.splitlines():
        match = re.match(r"^[^.]*\.([a-z-]+)='(.*)'$", line)
        if match and match.group(1) in PIP_KEYS_CARRIED:
            settings[match.group(1)] = match.group(2)
    return settings


def write_pip_context() -> Path:
    """Write `.build/pip/` (pip.conf and, when the machine has one, its CA bundle). Same input, same bytes,
    so the builder stages stay cached."""
    PIP_CONTEXT.mkdir(parents=True, exist_ok=True)
    settings = host_pip_config()
    lines = ["[global]", "no-cache-dir = true", "disable-pip-version-check = true"]
    cert = settings.pop("cert", "")
    bundle = PIP_CONTEXT / "ca.crt"
    if cert and Path(cert).is_file():
        if not bundle.exists() or bundle.read_bytes() != Path(cert).read_bytes():
            shutil.copyfile(cert, bundle)
        lines.append(f"cert = {PIP_CONTEXT_IN_BUILD}/ca.crt")
    elif bundle.exists():
        bundle.unlink()
    lines += [f"{key} = {value}" for key, value in sorted(settings.items())]
    conf = PIP_CONTEXT / "pip.conf"
    text = "\n".join(lines) + "\n"
    if not conf.exists() or conf.read_text() != text:
        conf.write_text(text)
    return PIP_CONTEXT
