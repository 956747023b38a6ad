"""What every container test stands on: which images exist, throw-away `FROM <image>` builds of the
fixture app trees, and containers that are polled for readiness and always removed. Imported by the
tests as `docker_support` (a module of its own, not a conftest: pytest keeps one `conftest` module name).

Full tests run on one Python (env TEST_PYTHON, default: the project's default); smoke tests run on every
supported Python that was built.
"""

from __future__ import annotations

import functools
import io
import os
import socket
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import project  # noqa: E402

APPS = Path(__file__).resolve().parent / "apps"
TEST_PYTHON = os.environ.get("TEST_PYTHON") or project.DEFAULT_PYTHON
# The images the publishing tests push and check on both platforms (README "Publishing"): RELEASE_TEST_IMAGES
# names some (space-separated; their parents go too); default, and in CI: every image.
_RELEASE_NAMED = os.environ.get("RELEASE_TEST_IMAGES", "").split() or project.IMAGES
RELEASE_IMAGES = [image for image in project.IMAGES
                  if any(image in project.lineage(named) for named in _RELEASE_NAMED)]
LOG_TAIL = 30
CONTAINER_PREFIX = os.environ.get("CONTAINER_PREFIX") or "test"  # e.g. one per developer on a shared machine


def docker_client():
    import docker

    return docker.from_env(timeout=300)


def image_exists(ref: str) -> bool:
    import docker.errors

    try:
        docker_client().images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def why_not_built(image: str, python: str) -> str | None:
    """Why an image may legitimately be missing for a Python, or None when it must exist."""
    unavailable = ROOT / image / "locks" / f"py{python}.unavailable"
    if unavailable.is_file():
        return f"{image} cannot be had on Python {python}: {unavailable.read_text().strip()}"
    if project.debian_suite(python) is None and not image_exists(f"python:{python}-slim"):
        return f"python:{python}-slim cannot be pulled here and no Debian suite ships python{python}"
    return None


def require_image(image: str, python: str = TEST_PYTHON) -> str:
    """The image's ref; a legitimate absence skips with its reason, any other absence fails."""
    ref = project.image_ref(image, python)
    if image_exists(ref):
        return ref
    reason = why_not_built(image, python)
    if reason:
        pytest.skip(reason)
    pytest.fail(f"{ref} is not built: run `make build-all` (or `make build-{image} PY={python}`) first")


# Gunicorn's names for the workers `WORKER_CLASS=auto` picks on org/base, by kind of app:
# (what "Using worker: ..." says, the class `gunicorn_image.server_info()` names).
AUTO_WORKERS = {"wsgi": ("gthread", "gunicorn.workers.gthread.ThreadWorker"),
                "asgi": ("asgi", "gunicorn.workers.gasgi.ASGIWorker")}


@dataclass(frozen=True)
class DefaultWorker:
    logged: str  # what Gunicorn logs as "Using worker: ..."
    server: str  # the class `gunicorn_image.server_info()` names
    workers_per_core: float


@functools.cache
def default_worker(image: str, kind: str, python: str = TEST_PYTHON) -> DefaultWorker:
    """The worker an image runs for a kind of app with no settings, read from the image itself (its
    DEFAULT_WORKER_CLASS and DEFAULT_WORKERS_PER_CORE), so a new image needs no test edit."""
    env = dict(item.partition("=")[::2] for item in
               docker_client().images.get(require_image(image, python)).attrs["Config"]["Env"])
    name = env.get("DEFAULT_WORKER_CLASS", "auto")
    logged, server = AUTO_WORKERS[kind] if name == "auto" else (name, name)
    return DefaultWorker(logged, server, float(env.get("DEFAULT_WORKERS_PER_CORE", "1")))


def family_ids() -> list[tuple[str, str, str]]:
    """(test id, image, kind) for every image of versions.json and every kind of app it serves."""
    return [(image if len(project.serves(image)) == 1 else f"{image}-{kind}", image, kind)
            for image, kind in project.family()]


def build_app_image(image_ref: str, app: str, dockerfile_extra: str = "") -> str:
    """Build `FROM <image_ref>` + `COPY . /app` from tests/apps/<app>/, as a user would; returns its tag."""
    context = APPS / app
    dockerfile = f"FROM {image_ref}\nCOPY . /app\n{dockerfile_extra}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(context.rglob("*")):
            if "__pycache__" not in path.parts:
                tar.add(path, arcname=str(path.relative_to(context)), recursive=False)
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    tag = f"test-app/{app}:{image_ref.replace('/', '-').replace(':', '-')}-{uuid.uuid5(uuid.NAMESPACE_OID, dockerfile).hex[:8]}"
    docker_client().images.build(fileobj=buffer, custom_context=True, tag=tag, rm=True, forcerm=True)
    return tag


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def published_port(container, port: int) -> int:
    """The loopback port Docker published `port` on; 0 when the container has already exited."""
    container.reload()
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    return int(bindings[0]["HostPort"]) if bindings else 0


@dataclass
class Running:
    container: object
    port: int
    container_port: int = 80

    def start(self) -> None:
        """Start it again after a stop: Docker publishes it on a new port."""
        self.container.start()
        self.port = published_port(self.container, self.container_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def tail(self) -> str:
        return "\n".join(self.logs().splitlines()[-LOG_TAIL:])

    def status(self) -> str:
        self.container.reload()
        return self.container.status

    def wait_http(self, path: str = "/", timeout: float = 30.0):
        """Poll until `path` answers; return the response. Fails with the container's last log lines."""
        import requests

        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            try:
                return requests.get(self.url + path, timeout=5)
            except requests.RequestException as error:
                last_error = str(error)
            if self.status() == "exited":
                break
            time.sleep(0.2)
        pytest.fail(f"no answer on {path} within {timeout}s ({last_error}); container {self.status()}; "
                    f"last logs:\n{self.tail()}")

    def wait_log(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logs = self.logs()
            if text in logs:
                return logs
            time.sleep(0.2)
        pytest.fail(f"log line {text!r} not seen within {timeout}s; last logs:\n{self.tail()}")

    def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            return int(self.container.wait(timeout=timeout)["StatusCode"])
        except Exception:
            pytest.fail(f"container still running after {timeout}s; last logs:\n{self.tail()}")

    def exec(self, command: list[str] | str, user: str = "") -> tuple[int, str]:
        code, output = self.container.exec_run(command, user=user)
        return code, output.decode(errors="replace")


@contextmanager
def run_container(image: str, env: dict[str, str] | None = None, port: int = 80, **options) -> Iterator[Running]:
    """Start a container with `port` published on a loopback port Docker picks (a port picked here could be
    taken by another test's container before this one starts); always removed afterwards."""
    container = docker_client().containers.run(
        image, detach=True, name=f"{CONTAINER_PREFIX}-{uuid.uuid4().hex[:12]}", environment=env or {},
        ports={f"{port}/tcp": ("127.0.0.1", None)}, **options,
    )
    try:
        # 0 when it has already exited (a configuration mistake under test): its logs and status tell
        yield Running(container, published_port(container, port), port)
    finally:
        try:
            container.remove(force=True)
        except Exception:
            pass
