"""The pins (`<image>/locks/pyX.Y.txt`, from `make lock`): a child installs only what its parent lacks over the
parent's virtualenv, so every package both locks name must have the same version in both."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import project  # noqa: E402


def pins(lock: Path) -> dict[str, str]:
    entries = [line.split("==") for line in lock.read_text().splitlines() if "==" in line and not line.startswith("#")]
    return {name.strip().lower().replace("_", "-"): version.strip() for name, version in entries}


CHILD_LOCKS = [pytest.param(image, python, id=f"{image}-py{python}")
               for image in project.IMAGES if project.parent(image)
               for python in project.PYTHONS if (ROOT / image / "locks" / f"py{python}.txt").is_file()]


@pytest.mark.parametrize(("image", "python"), CHILD_LOCKS)
def test_a_child_lock_pins_every_package_of_its_parent_at_the_same_version(image: str, python: str) -> None:
    child = pins(ROOT / image / "locks" / f"py{python}.txt")
    parent = pins(ROOT / project.parent(image) / "locks" / f"py{python}.txt")
    differs = {name: (version, child.get(name)) for name, version in parent.items() if child.get(name) != version}
    assert not differs, f"{image} py{python} vs its parent (parent, child): {differs}; run `make lock`"
