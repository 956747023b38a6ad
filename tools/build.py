"""Build the image family: every image for every Python, parents before children.

    python3 tools/build.py                     # all images, all Pythons (make build-all)
    python3 tools/build.py fastapi --python 3.13   # one image and what it stands on (make build-fastapi PY=3.13)

Each step prints the image and Python it is on, whether it was rebuilt or came from the cache, and how
long it took. A child is always built on the base image this run just built, so a change to the base
rebuilds every child; labels are derived from git so an unchanged tree is all cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

import machine
import project
import python_base


@dataclass
class Outcome:
    built: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # "python" or "image python" -> why
    failed: list[str] = field(default_factory=list)


def _image_id(ref: str) -> str | None:
    result = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def _docker_env() -> dict[str, str]:
    """BuildKit when the buildx plugin is there; the classic builder otherwise (the Dockerfiles need
    neither's extras)."""
    env = dict(os.environ)
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode != 0:
        env["DOCKER_BUILDKIT"] = "0"
    return env


def lock_file(image: str, python: str) -> str:
    return f"{image}/locks/py{python}.txt"


def build_image(image: str, base: python_base.PythonBase, verbose: bool) -> str:
    """Build one tag; returns "built", "skipped" (this Python cannot have the image) or "failed"."""
    python = base.python
    ref = project.image_ref(image, python)
    label = f"[{image} py{python}]"
    unavailable = project.ROOT / image / "locks" / f"py{python}.unavailable"
    if unavailable.is_file():
        print(f"{label} skipped: {unavailable.read_text().strip()}", flush=True)
        return "skipped"
    if not (project.ROOT / lock_file(image, python)).is_file():
        print(f"{label} FAILED: no lock {lock_file(image, python)} (make lock PY={python})", flush=True)
        return "failed"
    revision = project.source_revision(image)
    args = {
        "PYTHON_VERSION": python,
        "PYTHON_IMAGE": base.slim,
        "PYTHON_BUILD_IMAGE": base.full,
        "BASE_IMAGE": project.image_ref(project.parent(image), python) if project.parent(image) else "",
        "TITLE": f"{project.ORG}/{image}",
        "VERSION": f"py{python}-{project.source_day(image)}",  # the day its date tag has
        "CREATED": revision.date,
        "REVISION": revision.commit,
    }
    command = ["docker", "build", "--file", f"{image}/Dockerfile"]
    for name, value in args.items():
        if value:
            command += ["--build-arg", f"{name}={value}"]
    for tag in project.tags(image, python):
        command += ["--tag", tag]
    command.append(".")
    before = _image_id(ref)
    print(f"{label} building from {base.slim} ...", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=project.ROOT, env=_docker_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if verbose or line.startswith("Step "):  # one line per Dockerfile step shows progress
            print(f"  {line.rstrip()}", flush=True)
    process.wait()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        print("".join(output[-30:]), end="", flush=True)
        print(f"{label} FAILED after {seconds:.0f}s (docker build exit {process.returncode})", flush=True)
        return "failed"
    after = _image_id(ref)
    state = "unchanged (all cache)" if after == before else "rebuilt"
    print(f"{label} {state} in {seconds:.0f}s -> {', '.join(project.tags(image, python))}", flush=True)
    return "built"


def build(images: list[str], pythons: list[str], verbose: bool) -> Outcome:
    outcome = Outcome()
    machine.write_pip_context()
    wanted = [image for image in project.IMAGES if any(image in project.lineage(i) for i in images)]
    for python in pythons:
        try:
            base = python_base.ensure(python)
        except python_base.Unavailable as error:
            print(f"[py{python}] skipped: {error}", flush=True)
            outcome.skipped[python] = str(error)
            continue
        print(f"[py{python}] on {base.slim} ({base.origin})", flush=True)
        done: set[str] = set()
        for image in wanted:
            parent = project.parent(image)
            if parent and parent not in done:
                print(f"[{image} py{python}] FAILED: its base {parent} was not built", flush=True)
                outcome.failed.append(f"{image}:py{python}")
                continue
            state = build_image(image, base, verbose)
            if state == "built":
                done.add(image)
                outcome.built.append(project.image_ref(image, python))
            elif state == "skipped":
                outcome.skipped[f"{image} {python}"] = "see above"
            else:
                outcome.failed.append(f"{image}:py{python}")
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="*", choices=[[], *project.IMAGES], default=[],
                        help="images to build with their parents (default: all)")
    parser.add_argument("--python", action="append", choices=project.PYTHONS,
                        help="a Python version (repeatable; default: every supported one)")
    parser.add_argument("--verbose", action="store_true", help="show docker build's whole output")
    options = parser.parse_args()
    started = time.monotonic()
    outcome = build(options.images or project.IMAGES, options.python or project.PYTHONS, options.verbose)
    print(f"\nbuilt {len(outcome.built)} images in {time.monotonic() - started:.0f}s: {' '.join(outcome.built)}")
    for what, why in outcome.skipped.items():
        print(f"skipped {what}: {why}")
    if outcome.failed:
        print(f"FAILED or skipped: {' '.join(outcome.failed)}")
    return 1 if outcome.failed or not outcome.built else 0


if __name__ == "__main__":
    sys.exit(main())
