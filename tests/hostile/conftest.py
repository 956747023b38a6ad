"""The ``hostile_server`` fixture: each image under test serving the hostile-HTTP fixture app.

For each image in ``HOSTILE_IMAGES`` (space-separated; by default every image on the default Python, and on the
other Pythons every image that runs a server of its own: a child serving exactly the kinds of app its parent
serves runs its parent's server, which the parent's run covers there)
it builds a throw-away ``FROM <image>`` with the fixture app of ``tests/hostile/app/`` (the WSGI one for base and
flask, the ASGI one for fastapi and starlette; ``image@asgi`` or ``image@wsgi`` picks the other), runs it with the
image's default worker and one worker process (so a stalled or crashed worker shows), published on a random
loopback port, waits until it answers, and yields ``(host, port)``. Containers are named ``hostile-<uuid>`` and
removed, with their image, at teardown.

Images on ``TEST_PYTHON`` get the whole corpus; on the other Pythons the slow-client cases, which take seconds
each and test the worker model rather than anything a Python version changes, are left out (``server.full``);
images named in ``HOSTILE_IMAGES`` get the whole corpus.
An image that is not built here fails the tests, saying so, unless it cannot be had on that Python (3.12
where ``python:3.12-slim`` cannot be pulled), which skips with the reason.
"""

from __future__ import annotations

import http.client
import io
import os
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_support import TEST_PYTHON, project, why_not_built

HERE = Path(__file__).resolve().parent


def own_server(image: str) -> bool:
    """Whether an image runs a server its parent does not (a child serving what its parent serves does not)."""
    parent = project.parent(image)
    return parent is None or project.serves(image) != project.serves(parent)


DEFAULT_IMAGES = " ".join(
    [project.image_ref(image, TEST_PYTHON) for image in project.IMAGES]
    + [project.image_ref(image, python) for python in project.PYTHONS if python != TEST_PYTHON
       for image in project.IMAGES if own_server(image)])
ASGI_IMAGES = {image for image in project.IMAGES if project.serves(image) == ["asgi"]}  # the rest get the WSGI app
READY_WAIT = 90.0
LOG_TAIL = 40
LINE_MAX = 240  # access-log lines of the huge cases are megabytes long


def image_name(image: str) -> str:
    """``org/fastapi:py3.11`` -> ``fastapi``."""
    return image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]


def images_under_test() -> list[tuple[str, str, bool]]:
    """(image, app kind, whole corpus?) for each entry of HOSTILE_IMAGES (images named there get the whole corpus)."""
    chosen = os.environ.get("HOSTILE_IMAGES")
    entries = []
    for entry in (chosen or DEFAULT_IMAGES).split():
        image, _, app = entry.partition("@")
        app = app or ("asgi" if image_name(image) in ASGI_IMAGES else "wsgi")
        if app not in ("asgi", "wsgi"):
            raise pytest.UsageError(f"HOSTILE_IMAGES entry {entry!r}: the app after @ must be asgi or wsgi")
        entries.append((image, app, bool(chosen) or _python_of(image) in (None, TEST_PYTHON)))
    return entries


class HostileServer(tuple):
    """``(host, port)`` of a running fixture container, with what a failure message needs."""

    def __new__(cls, host: str, port: int, image: str, app: str, full: bool, container: object) -> HostileServer:
        server = super().__new__(cls, (host, port))
        server.image, server.app, server.full, server.container = image, app, full, container
        return server

    @property
    def name(self) -> str:
        return image_name(self.image)

    def tail(self, lines: int = LOG_TAIL) -> str:
        try:
            logs = self.container.logs(tail=lines).decode(errors="replace")
        except Exception as exc:  # the container may be gone; the failure message must still be written
            return f"(no logs: {exc!r})"
        return "\n".join(line if len(line) <= LINE_MAX else line[:LINE_MAX] + f"... ({len(line)} chars)"
                         for line in logs.splitlines())


def _build_context(image: str, app: str) -> io.BytesIO:
    """A build context: the fixture app as /app/hostile_app.py on top of ``image``."""
    dockerfile = f"FROM {image}\nCOPY hostile_app.py /app/hostile_app.py\n".encode()
    source = (HERE / "app" / app / "hostile_app.py").read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("hostile_app.py", source)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _wait_ready(container, timeout: float = READY_WAIT) -> int:
    """Poll until the published port answers ``GET /__pid`` with 200; the host port."""
    deadline = time.monotonic() + timeout
    error = "not started"
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            break
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get("80/tcp") or []
        if bindings:
            port = int(bindings[0]["HostPort"])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
            try:
                conn.request("GET", "/__pid")
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    return port
                error = f"GET /__pid answered {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                error = repr(exc)
            finally:
                conn.close()
        time.sleep(0.2)
    logs = container.logs(tail=LOG_TAIL).decode(errors="replace")
    pytest.fail(f"the fixture app did not answer within {timeout:.0f}s ({error}); container {container.status}; "
                f"last logs:\n{logs}")


def _tag(image: str) -> str:
    """``org/fastapi:py3.11`` -> ``py3.11``; no tag -> ``latest``."""
    return image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest"


def _python_of(image: str) -> str | None:
    tag = _tag(image)
    return tag[2:].split("-", 1)[0] if tag.startswith("py") else None


def _param_id(entry: tuple[str, str, bool]) -> str:
    """``org/fastapi:py3.11`` with the asgi app -> ``fastapi-py3.11-asgi``."""
    image, app, _ = entry
    return f"{image_name(image)}-{_tag(image)}-{app}"


@pytest.fixture(scope="session", params=images_under_test(), ids=_param_id)
def hostile_server(request) -> Iterator[HostileServer]:
    import docker

    image, app, full = request.param
    client = docker.from_env(timeout=300)
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        python = _python_of(image)
        reason = why_not_built(image_name(image), python) if python else None
        if reason:
            pytest.skip(reason)
        pytest.fail(f"{image} is not built on this machine (run `make build-all` first)")
    name = f"hostile-{uuid.uuid4().hex[:12]}"
    tag = f"{name}:latest"
    client.images.build(fileobj=_build_context(image, app), custom_context=True, tag=tag, rm=True, forcerm=True)
    container = None
    try:
        container = client.containers.run(
            tag, detach=True, name=name,
            environment={"MODULE_NAME": "hostile_app", "VARIABLE_NAME": "app", "WEB_CONCURRENCY": "1"},
            ports={"80/tcp": ("127.0.0.1", None)},
        )
        port = _wait_ready(container)
        yield HostileServer("127.0.0.1", port, image, app, full, container)
    finally:
        if container is not None:
            container.remove(force=True)
        client.images.remove(tag, force=True)
