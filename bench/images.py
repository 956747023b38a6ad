"""Building what the benchmark needs.

- The images under test, for each Python of the run, through the project's own build (`tools/build.py`), so
  a run never measures a stale image (an unchanged tree is all cache).
- A bench image `FROM` each (bench/docker/bench.Dockerfile): the image plus uWSGI and Granian and the
  bench app, so every server compared runs in the same image.
- A minimal hand-written image with the same packages (bench/docker/minimal*.Dockerfile) for the size
  comparison.

The Docker contexts are assembled in .build/bench/<name>/ from exactly the files each build needs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import docker

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TOOLS = ROOT / "tools"
CONTEXTS = ROOT / ".build" / "bench"
DOCKERFILES = BENCH / "docker"
PINS = BENCH / "requirements.txt"
FAMILY_BUILD_TIMEOUT_S = 3600

sys.path.insert(0, str(TOOLS))
import machine  # noqa: E402  (tools/: the machine's pip settings for builder stages)
import project  # noqa: E402  (tools/: names, tags, lineage)
import python_base  # noqa: E402  (tools/: the Python images the family is built on)


class BuildFailed(Exception):
    """A build did not finish; the message holds its last output lines."""


def family_ref(image: str, python: str) -> str:
    return project.image_ref(image, python)


def bench_ref(image: str, python: str) -> str:
    return f"bench/{image}:py{python}"


def minimal_ref(image: str, python: str) -> str:
    return f"bench/{image}-minimal:py{python}"


def build_family(images: list[str], pythons: list[str]) -> None:
    """Build (or confirm from cache) the images under test and their parents with the project's build."""
    command = [sys.executable, str(TOOLS / "build.py"), *images]
    for python in pythons:
        command += ["--python", python]
    print(f"$ {' '.join(command[1:])}", flush=True)
    try:
        result = subprocess.run(command, cwd=ROOT, timeout=FAMILY_BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        raise BuildFailed(f"tools/build.py did not finish within {FAMILY_BUILD_TIMEOUT_S}s") from error
    if result.returncode != 0:
        raise BuildFailed(f"tools/build.py {' '.join(images)} exited {result.returncode}")


def require_family(client: docker.DockerClient, images: list[str], pythons: list[str]) -> None:
    missing = [family_ref(image, python) for python in pythons for image in images
               if not _exists(client, family_ref(image, python))]
    if missing:
        raise BuildFailed(f"not built: {', '.join(missing)} (make build-all, or run without --no-build)")


def _exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def _context(name: str, dockerfile: Path, files: dict[str, Path | str]) -> Path:
    """A fresh build context: the Dockerfile plus `files` (destination name -> source path, or text)."""
    context = CONTEXTS / name
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    shutil.copyfile(dockerfile, context / "Dockerfile")
    shutil.copytree(machine.write_pip_context(), context / "pip")
    for destination, source in files.items():
        target = context / destination
        if isinstance(source, str):
            target.write_text(source)
        elif source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(source, target)
    return context


def _build(client: docker.DockerClient, context: Path, tag: str, buildargs: dict[str, str]) -> None:
    """Build with the classic builder through the Docker API, one progress line per Dockerfile step."""
    print(f"[build {tag}] ...", flush=True)
    started = time.monotonic()
    output: list[str] = []
    for chunk in client.api.build(path=str(context), tag=tag, buildargs=buildargs, rm=True, forcerm=True,
                                  decode=True):
        if "error" in chunk:
            raise BuildFailed(f"{tag}: {chunk['error'].strip()}\n" + "".join(output[-30:]))
        text = chunk.get("stream", "")
        output.append(text)
        if text.startswith("Step "):
            print(f"  {text.strip()[:150]}", flush=True)
    print(f"[build {tag}] done in {time.monotonic() - started:.0f}s", flush=True)


def python_images(python: str) -> python_base.PythonBase:
    """The slim (final stages) and full (compiling) Python images the family is built on."""
    return python_base.ensure(python)


def build_bench_image(client: docker.DockerClient, image: str, python: str, bases: python_base.PythonBase) -> str:
    """The image under test plus the pinned uWSGI and Granian and the bench app."""
    user = client.images.get(family_ref(image, python)).attrs["Config"].get("User") or "root"
    context = _context(f"{image}-py{python}-bench", DOCKERFILES / "bench.Dockerfile", {
        "requirements.txt": PINS,
        "app": BENCH / "apps" / image,
    })
    _build(client, context, bench_ref(image, python), {
        "IMAGE": family_ref(image, python), "PYTHON_BUILD_IMAGE": bases.full, "IMAGE_USER": user,
    })
    return bench_ref(image, python)


def _locked_requirements(image: str, python: str) -> str:
    """The image's exact pins together with its parents', as one requirements file."""
    texts = [(ROOT / part / "locks" / f"py{python}.txt").read_text() for part in project.lineage(image)]
    return "\n".join(texts)


def build_minimal_image(client: docker.DockerClient, image: str, python: str, bases: python_base.PythonBase) -> str:
    """The same packages on the same slim Python, the shortest obvious way, for the size comparison."""
    files: dict[str, Path | str] = {"requirements.txt": _locked_requirements(image, python)}
    dockerfile, buildargs = DOCKERFILES / "minimal.Dockerfile", {"PYTHON_IMAGE": bases.slim}
    meinheld = ROOT / image / "meinheld"
    if meinheld.is_dir():  # flask: the same patched Meinheld, compiled the same way
        files["meinheld"] = meinheld
        dockerfile = DOCKERFILES / "minimal-flask.Dockerfile"
        buildargs["PYTHON_BUILD_IMAGE"] = bases.full
    context = _context(f"{image}-py{python}-minimal", dockerfile, files)
    _build(client, context, minimal_ref(image, python), buildargs)
    return minimal_ref(image, python)


def image_size(client: docker.DockerClient, ref: str) -> int:
    return int(client.images.get(ref).attrs["Size"])
