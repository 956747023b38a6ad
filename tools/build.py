"""Build the image family: every image for every Python, parents before children.

    python3 tools/build.py                     # all images, all Pythons (make build-all)
    python3 tools/build.py fastapi --python 3.13   # one image and what it stands on (make build-fastapi PY=3.13)
    python3 tools/build.py --platforms linux/amd64,linux/arm64   # each platform (make build-all PLATFORMS=...)

Each image prints the image, Python (and platform, when not the host's) it is on, every Dockerfile step
with the time it took, whether it was rebuilt or came from the cache, and how long it took in all.
A platform other than the host's is built under emulation (tools/platforms.py) and tagged with its
architecture: `org/base:py3.11-arm64`. A child is always built on the base image this run just built, so
a change to the base rebuilds every child; labels are derived from git so an unchanged tree is all cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import host_tools
import machine
import platforms
import project
import python_base


DEFAULT_JOBS = 2  # builds at once: each keeps about one core busy (see `build`)


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


def build_image(image: str, base: python_base.PythonBase, verbose: bool, platform: platforms.Platform) -> str:
    """Build one tag; returns "built", "skipped" (this Python cannot have the image) or "failed"."""
    python = base.python
    ref = platforms.local_ref(image, python, platform)
    native = platform == platforms.host()
    label = f"[{image} py{python}{platforms.where(platform)}]"
    unavailable = project.ROOT / image / "locks" / f"py{python}.unavailable"
    if unavailable.is_file():
        print(f"{label} skipped: {unavailable.read_text().strip()}", flush=True)
        return "skipped"
    if not (project.ROOT / lock_file(image, python)).is_file():
        print(f"{label} FAILED: no lock {lock_file(image, python)} (make lock PY={python})", flush=True)
        return "failed"
    revision = project.source_revision(image)
    parent = project.parent(image)
    args = {
        "PYTHON_VERSION": python,
        "PYTHON_IMAGE": base.slim,
        "PYTHON_BUILD_IMAGE": base.full,
        "BASE_IMAGE": platforms.local_ref(parent, python, platform) if parent else "",
        "TITLE": f"{project.ORG}/{image}",
        "VERSION": f"py{python}-{project.source_day(image)}",  # the day its date tag has
        "CREATED": revision.date,
        "REVISION": revision.commit,
    }
    command = ["docker", "build", "--file", f"{image}/Dockerfile"] + ([] if native else ["--platform", platform.name])
    for name, value in args.items():
        if value:
            command += ["--build-arg", f"{name}={value}"]
    tags = project.tags(image, python) if native else [ref]
    for tag in tags:
        command += ["--tag", tag]
    command.append(".")
    before = _image_id(ref)
    print(f"{label} building from {base.slim} ...", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=project.ROOT, env=_docker_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    assert process.stdout is not None
    step_started: float | None = None
    for line in process.stdout:
        output.append(line)
        if line.startswith("Step "):  # one line per Dockerfile step shows progress, then the time it took
            _print_step_time(label, step_started)
            step_started = time.monotonic()
        if verbose or line.startswith("Step "):
            print(f"  {label} {line.rstrip()}", flush=True)
    process.wait()
    _print_step_time(label, step_started)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        print("".join(output[-30:]), end="", flush=True)
        print(f"{label} FAILED after {seconds:.0f}s (docker build exit {process.returncode})", flush=True)
        return "failed"
    after = _image_id(ref)
    state = "unchanged (all cache)" if after == before else "rebuilt"
    print(f"{label} {state} in {seconds:.0f}s -> {', '.join(tags)}", flush=True)
    return "built"


def _print_step_time(label: str, since: float | None) -> None:
    """After a Dockerfile step that took a second or more: how long it took."""
    seconds = time.monotonic() - since if since is not None else 0.0
    if seconds >= 1:
        print(f"  {label}   ({seconds:.0f}s)", flush=True)


def needs_compiler(image: str) -> bool:
    """Whether the image's Dockerfile has a stage on the compiling Python image (flask's Meinheld does)."""
    return "PYTHON_BUILD_IMAGE" in (project.ROOT / image / "Dockerfile").read_text()


@dataclass(frozen=True)
class Job:
    """One image for one Python on one platform."""

    image: str
    python: str
    platform: platforms.Platform

    @property
    def ref(self) -> str:
        return platforms.local_ref(self.image, self.python, self.platform)

    @property
    def parent(self) -> Job | None:
        parent = project.parent(self.image)
        return Job(parent, self.python, self.platform) if parent else None


def build(images: list[str], pythons: list[str], verbose: bool,
          targets: list[platforms.Platform] | None = None, jobs: int = DEFAULT_JOBS) -> Outcome:
    """Build `images` (with their parents) for each Python on each platform (default: the host's), up to
    `jobs` at once: an image starts as soon as its parent is built, so Pythons, platforms and siblings
    (flask beside uvicorn) build side by side. A build keeps about one core busy (downloads, one-threaded
    pip and gcc, one qemu process per emulated step), so two at a time nearly halve the time on 2 cores."""
    outcome = Outcome()
    machine.write_pip_context()
    wanted = [image for image in project.IMAGES if any(image in project.lineage(i) for i in images)]
    compiling = any(map(needs_compiler, wanted))
    queue: list[Job] = []
    for platform in targets or [platforms.host()]:
        try:
            platforms.ensure_emulation(platform)
        except (platforms.Unsupported, host_tools.Missing) as error:
            print(f"[{platform.name}] FAILED: {error}", flush=True)
            outcome.failed.append(platform.name)
            continue
        queue += [Job(image, python, platform) for python in pythons for image in wanted]

    bases: dict[tuple[str, platforms.Platform], python_base.PythonBase | None] = {}
    compilers: dict[tuple[str, platforms.Platform], Future[python_base.PythonBase]] = {}
    base_locks = {(job.python, job.platform): threading.Lock() for job in queue}
    # The compiling Python image (a stand-in takes a minute or more, under emulation too) is made beside the
    # first images of its Python; only the images that compile wait for it.
    helpers = ThreadPoolExecutor(max_workers=max(1, jobs))

    def python_base_for(job: Job) -> python_base.PythonBase | None:
        """The Python images of a job's Python and platform, found or made once; None when unavailable."""
        key = (job.python, job.platform)
        with base_locks[key]:  # one thread makes a Python's stand-in; another Python's goes on beside it
            if key not in bases:
                where = platforms.where(job.platform)
                try:
                    base = python_base.ensure(job.python, job.platform, compiling=False)
                    print(f"[py{job.python}{where}] on {base.slim} ({base.origin})", flush=True)
                    bases[key] = base
                    if compiling:
                        compilers[key] = helpers.submit(python_base.ensure, job.python, job.platform, True)
                except python_base.Unavailable as error:
                    print(f"[py{job.python}{where}] skipped: {error}", flush=True)
                    outcome.skipped[f"{job.python}{where}"] = str(error)
                    bases[key] = None
        found = bases[key]
        return compilers[key].result() if found is not None and needs_compiler(job.image) else found

    def run(job: Job) -> str:
        try:
            base = python_base_for(job)
        except python_base.Unavailable as error:  # the compiling image could not be had
            print(f"[{job.image} py{job.python}{platforms.where(job.platform)}] FAILED: {error}", flush=True)
            return "failed"
        return "python unavailable" if base is None else build_image(job.image, base, verbose, job.platform)

    states: dict[Job, str] = {}  # "built", "skipped", "failed", "python unavailable"
    running: dict[Future[str], Job] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        while queue or running:
            for job in list(queue):
                parent = job.parent
                if parent in queue or any(parent == other for other in running.values()):
                    continue  # its parent is still to come
                if len(running) >= max(1, jobs):
                    break
                queue.remove(job)
                parent_state = states.get(parent, "built") if parent else "built"
                if parent_state == "python unavailable":
                    states[job] = parent_state
                elif parent_state != "built":
                    print(f"[{job.image} py{job.python}{platforms.where(job.platform)}] FAILED: its base "
                          f"{parent.image if parent else ''} was not built", flush=True)
                    states[job] = "failed"
                else:
                    running[pool.submit(run, job)] = job
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                job = running.pop(future)
                states[job] = future.result()
    helpers.shutdown()
    for job, state in states.items():
        if state == "built":
            outcome.built.append(job.ref)
        elif state == "skipped":
            outcome.skipped[f"{job.image} {job.python}{platforms.where(job.platform)}"] = "see above"
        elif state == "failed":
            outcome.failed.append(job.ref)
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="*", choices=[[], *project.IMAGES], default=[],
                        help="images to build with their parents (default: all)")
    parser.add_argument("--python", action="append", choices=project.PYTHONS,
                        help="a Python version (repeatable; default: every supported one)")
    parser.add_argument("--platforms", default="", metavar="LIST",
                        help="comma-separated platforms, e.g. linux/amd64,linux/arm64 (default: the host's)")
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, metavar="N",
                        help=f"images built at once, each as soon as its parent is (default: {DEFAULT_JOBS})")
    parser.add_argument("--verbose", action="store_true", help="show docker build's whole output")
    options = parser.parse_args()
    try:
        targets = platforms.parse(options.platforms)
    except platforms.Unsupported as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.monotonic()
    outcome = build(options.images or project.IMAGES, options.python or project.PYTHONS, options.verbose, targets,
                    options.jobs)
    print(f"\nbuilt {len(outcome.built)} images in {time.monotonic() - started:.0f}s: {' '.join(outcome.built)}")
    for what, why in outcome.skipped.items():
        print(f"skipped {what}: {why}")
    if outcome.failed:
        print(f"FAILED or skipped: {' '.join(outcome.failed)}")
    return 1 if outcome.failed or not outcome.built else 0


if __name__ == "__main__":
    sys.exit(main())
