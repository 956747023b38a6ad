"""Write an image's SBOM, CycloneDX 1.5 JSON: every Python package in /opt/venv and every Debian package,
with versions, plus the Python interpreter itself.

Run at build time in each image's builder stage, whose /opt/venv (plus, in a child image, the packages its
parent lacked, installed under /opt/overlay/venv) and Debian packages are exactly what its final stage gets
(the final stage copies the virtualenv or the overlay and this file, and installs nothing):

    /opt/venv/bin/python sbom.py OUTPUT TITLE VERSION

Standard library only; the same input gives the same bytes (so no timestamp: the image's
`org.opencontainers.image.created` label says when its sources were committed).
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

VENV = Path("/opt/venv")
OVERLAY = Path("/opt/overlay/venv")  # a child's new packages, laid over the parent's /opt/venv in its final stage
DPKG_FORMAT = r"${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"


def _purl_version(version: str) -> str:
    return quote(version, safe=".-_~")


def python_packages(roots: tuple[Path, ...] = (VENV, OVERLAY)) -> list[dict[str, str]]:
    """Every distribution installed in the site-packages under these roots (a missing root has none)."""
    paths = [str(path) for root in roots for path in sorted(root.glob("lib/python*/site-packages"))]
    found: dict[str, dict[str, str]] = {}
    for dist in importlib.metadata.distributions(path=paths):
        name, version = dist.metadata["Name"], dist.version
        key = re.sub(r"[-_.]+", "-", name).lower()
        found[key] = {"type": "library", "bom-ref": f"pkg:pypi/{key}@{_purl_version(version)}", "name": name,
                      "version": version, "purl": f"pkg:pypi/{key}@{_purl_version(version)}"}
    return [found[key] for key in sorted(found)]


def _distro() -> str:
    """`debian-12` from /etc/os-release (ID and VERSION_ID), or just the ID where it has no version (testing)."""
    fields: dict[str, str] = {}
    for line in Path("/etc/os-release").read_text().splitlines():
        name, _, value = line.partition("=")
        fields[name] = value.strip().strip('"')
    return "-".join(part for part in (fields.get("ID", "debian"), fields.get("VERSION_ID", "")) if part)


def debian_packages() -> list[dict[str, str]]:
    """Every Debian package dpkg has installed."""
    out = subprocess.run(["dpkg-query", "--show", f"--showformat={DPKG_FORMAT}"],
                         capture_output=True, text=True, check=True).stdout
    distro = _distro()
    components = []
    for line in sorted(out.splitlines()):
        status, name, version, arch = line.split("\t")
        if status.strip() != "ii":
            continue
        purl = f"pkg:deb/debian/{name}@{_purl_version(version)}?arch={arch}&distro={distro}"
        components.append({"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl})
    return components


def interpreter() -> dict[str, str]:
    version = platform.python_version()
    purl = f"pkg:generic/cpython@{version}"
    return {"type": "application", "bom-ref": purl, "name": "cpython", "version": version, "purl": purl,
            "description": f"the interpreter {VENV} runs on"}


def document(title: str, version: str) -> dict:
    components = [interpreter(), *python_packages(), *debian_packages()]
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "sbom.py",
                                      "description": "the image family's build-time SBOM writer"}]},
            "component": {"type": "container", "bom-ref": f"{title}:{version}", "name": title, "version": version},
        },
        "components": components,
    }
    bom["serialNumber"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(bom, sort_keys=True))}"
    return bom


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: sbom.py OUTPUT TITLE VERSION", file=sys.stderr)
        return 2
    output, title, version = argv[1:]
    Path(output).write_text(json.dumps(document(title or "unknown", version or "dev"), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
