"""Every image, on every supported Python that was built, serves its example app with its default
worker, and carries what a clean image should (labels, the virtualenv) and nothing it should not
(build settings, compilers, package caches)."""

from __future__ import annotations

import pytest

from docker_support import default_worker, project, require_image, run_container

# The framework an example app names: the image's own name, but for the framework-free images.
FRAMEWORK = {"base": "wsgi", "uvicorn": "asgi"}
EVERY_TAG = [pytest.param(image, python, id=f"{image}-py{python}")
             for python in project.PYTHONS for image in project.IMAGES]


@pytest.mark.parametrize("image,python", EVERY_TAG)
def test_example_app_is_served_by_the_default_worker(image: str, python: str) -> None:
    ref = require_image(image, python)
    framework = FRAMEWORK.get(image, image)
    worker = default_worker(image, project.serves(image)[0], python).server.rpartition(".")[2]
    with run_container(ref) as server:
        response = server.wait_http("/")
        assert response.status_code == 200, f"GET / gave {response.status_code}: {response.text}\n{server.tail()}"
        answer = response.json()
        assert answer["framework"] == framework, answer
        assert answer["python"].startswith(python + "."), f"expected Python {python}, got {answer}"
        assert worker in answer["server"], f"expected worker {worker}, got {answer['server']}"
        assert f"Using worker: " in server.logs()
        assert "PRELOAD_MODULES:" not in server.logs(), f"the image's DEFAULT_PRELOAD_MODULES failed\n{server.tail()}"


@pytest.mark.parametrize("image,python", EVERY_TAG)
def test_image_is_clean_and_labelled(image: str, python: str, docker) -> None:
    ref = require_image(image, python)
    attrs = docker.images.get(ref).attrs
    labels = attrs["Config"]["Labels"] or {}
    for key in ("title", "description", "version", "created", "revision", "base.name"):
        assert labels.get(f"org.opencontainers.image.{key}"), f"{ref} lacks label {key}: {labels}"
    env = "\n".join(attrs["Config"]["Env"])
    assert "PIP_CONFIG_FILE" not in env and "PIP_CERT" not in env, f"build settings left in {ref}: {env}"
    for expected in ("PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1", "PATH=/opt/venv/bin:"):
        assert expected in env, f"{ref} lacks {expected}: {env}"
    probe = ("test ! -e /tmp/pip-net && test ! -e /tmp/build && test ! -e /opt/overlay && test ! -e /root/.cache/pip"
             " && ! command -v gcc && ! command -v cc && echo clean")
    output = docker.containers.run(ref, ["sh", "-c", probe], remove=True).decode()
    assert output.strip() == "clean", f"{ref} carries build leftovers or a compiler: {output}"


# Every module of the start layer has bytecode the image's Python accepts (its magic number, the source's
# mtime and size), so a start does not compile the layer in /start.sh's process and again in Gunicorn's master
# (PYTHONDONTWRITEBYTECODE keeps a running container from writing it).
STALE_BYTECODE = """
import importlib.util, pathlib, struct
for source in sorted(pathlib.Path('/opt/image-layer').rglob('*.py')):
    cached = pathlib.Path(importlib.util.cache_from_source(str(source)))
    stat = source.stat()
    header = cached.read_bytes()[:16] if cached.is_file() else b''
    expected = importlib.util.MAGIC_NUMBER + struct.pack('<3I', 0, int(stat.st_mtime) & 0xFFFFFFFF,
                                                         stat.st_size & 0xFFFFFFFF)
    if header != expected:
        print(source.name)
"""


@pytest.mark.parametrize("image,python", EVERY_TAG)
def test_start_layer_is_byte_compiled(image: str, python: str, docker) -> None:
    ref = require_image(image, python)
    stale = docker.containers.run(ref, ["python", "-c", STALE_BYTECODE], remove=True).decode().split()
    assert not stale, f"{ref}: modules without up-to-date bytecode (compiled on every start): {stale}"
