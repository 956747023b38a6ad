"""The project's one source of truth, read from versions.json: Pythons, images, names and tags.

Everything that needs a Python list, an image order or a tag asks this module, so adding a Python
line is a one-line change in versions.json.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = json.loads((ROOT / "versions.json").read_text())

DEFAULT_PYTHON: str = VERSIONS["default"]
PYTHONS: list[str] = list(VERSIONS["pythons"])
IMAGES: list[str] = list(VERSIONS["images"])  # already in dependency order
ORG: str = os.environ.get("ORG") or "org"


def debian_suite(python: str) -> str | None:
    """The Debian suite that ships python3.X, or None when no suite does."""
    return VERSIONS["pythons"][python]["debian"]


def parent(image: str) -> str | None:
    return VERSIONS["images"][image]["parent"]


def serves(image: str) -> list[str]:
    """The kinds of app ("wsgi", "asgi") the image serves with its default worker."""
    return list(VERSIONS["images"][image]["serves"])


def family() -> list[tuple[str, str]]:
    """(image, kind of app) for every image and every kind it serves, parents first: what a parent promises
    for a kind of app is tested on each of these."""
    return [(image, kind) for image in IMAGES for kind in serves(image)]


def lineage(image: str) -> list[str]:
    """The image and its ancestors, base first."""
    chain: list[str] = []
    current: str | None = image
    while current:
        chain.insert(0, current)
        current = parent(current)
    return chain


def image_ref(image: str, python: str) -> str:
    return f"{ORG}/{image}:py{python}"


def tags(image: str, python: str, day: str | None = None) -> list[str]:
    """`pyX.Y`, the immutable `pyX.Y-YYYY-MM-DD`, and `latest` for the default Python.

    The one rule for dates: the day in the date tag and in the `org.opencontainers.image.version` label is
    `source_day(image)`, the UTC day of the last commit touching the image's sources. The same sources give
    the same tag on any day (and a fully cached build), and a change to them gives a new one."""
    day = day or source_day(image)
    names = [image_ref(image, python), f"{image_ref(image, python)}-{day}"]
    if python == DEFAULT_PYTHON:
        names.append(f"{ORG}/{image}:latest")
    return names


@dataclass(frozen=True)
class Revision:
    commit: str
    date: str


def source_revision(image: str) -> Revision:
    """The last commit touching what an image is built from: stable while nothing changes, so labels
    never bust the build cache."""
    paths = ["shared", "versions.json", *lineage(image)]
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%H %cI", "--", *paths],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = []
    if len(out) == 2:
        return Revision(out[0], out[1])
    return Revision("unknown", "1970-01-01T00:00:00Z")


def source_day(image: str) -> str:
    """The UTC day (YYYY-MM-DD) of `source_revision(image)`: the date in tags and version labels."""
    stamp = datetime.datetime.fromisoformat(source_revision(image).date.replace("Z", "+00:00"))
    return stamp.astimezone(datetime.timezone.utc).date().isoformat()


if __name__ == "__main__":  # used by the Makefile and .ci/run: `python3 tools/project.py pythons`
    import sys

    what = sys.argv[1] if len(sys.argv) > 1 else "pythons"
    print({"pythons": " ".join(PYTHONS), "default": DEFAULT_PYTHON, "images": " ".join(IMAGES)}[what])
