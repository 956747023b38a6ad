"""Starved of memory, processes or /tmp: the server keeps serving, or stops with one clear line.

Each test runs on a WSGI image (flask: Meinheld workers) and an ASGI image (fastapi: Uvicorn workers),
serving tests/apps/starve/ (`app` or `asgi_app`), published on 127.0.0.1, while a prober asks `GET /` on a
new connection every 50 ms. Every probe must be answered 200: a starved worker may die, the others
and its replacement keep serving.
"""

from __future__ import annotations

import http.client
import json
import re
import time

import pytest

from docker_support import build_app_image, require_image, run_container
from reliability_support import Prober, get, workers

pytestmark = pytest.mark.alone  # load, timing and memory under test: `make test` runs it with nothing beside it

SERVERS = [pytest.param("flask", {}, id="wsgi-flask"),
           pytest.param("fastapi", {"VARIABLE_NAME": "asgi_app"}, id="asgi-fastapi")]
MEMORY = "384m"  # the workers take 30-60 MiB each; /alloc?mb=1024 cannot fit
BOOT_WAIT = 60.0


def wait_workers(server, count: int, without: set[int], timeout: float = BOOT_WAIT) -> dict:
    """Wait until `count` workers run and none of `without` is among them; returns them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = workers(server)
        if len(found) == count and not set(found) & without:
            return found
        time.sleep(0.2)
    pytest.fail(f"expected {count} workers without {sorted(without)}, found {sorted(workers(server))}; "
                f"last logs:\n{server.tail()}")


def oom_line(server) -> str:
    """Gunicorn's line for a worker the kernel killed: `Worker (pid:N) was sent SIGKILL! Perhaps out of memory?`"""
    logs = server.wait_log("Perhaps out of memory?")
    return next(line for line in logs.splitlines() if "Perhaps out of memory?" in line)


def kill_worker(server, pid: int) -> None:
    code, output = server.exec(["python", "-c", f"import os, signal; os.kill({pid}, signal.SIGKILL)"], user="0")
    assert code == 0, f"could not kill worker {pid}: {output}"


def post_length(port: int, size: int) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/length", body=b"x" * size, headers={"Content-Type": "application/octet-stream"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("image,env", SERVERS)
def test_worker_killed_for_memory_is_replaced_while_others_keep_serving(image: str, env: dict[str, str]) -> None:
    app_image = build_app_image(require_image(image), "starve")
    with run_container(app_image, env={"WEB_CONCURRENCY": "2", **env}, mem_limit=MEMORY,
                       memswap_limit=MEMORY) as server:
        server.wait_http("/")
        before = wait_workers(server, 2, set())
        with Prober(server.port) as prober:
            time.sleep(0.5)
            try:
                status, body = get(server.port, "/alloc?mb=1024", timeout=60)
                answer = f"{status} {body[:200]!r}"
            except (OSError, http.client.HTTPException) as error:
                answer = f"{type(error).__name__}: {error}"
            line = oom_line(server)
            killed = int(re.search(r"pid:(\d+)", line).group(1))
            after = wait_workers(server, 2, {killed})
            time.sleep(1.0)
        assert killed in before and killed not in after, (
            f"the master's line names no worker of {sorted(before)}: {line} (answer to /alloc: {answer})")
        assert not prober.failures, f"other requests failed while a worker was OOM-killed: {prober.summary()}"
        assert prober.ok > 10, prober.summary()
        assert server.status() == "running"


@pytest.mark.parametrize("image,env", SERVERS)
def test_full_tmp_keeps_serving_and_never_truncates_a_body(image: str, env: dict[str, str]) -> None:
    app_image = build_app_image(require_image(image), "starve")
    with run_container(app_image, env={"WEB_CONCURRENCY": "2", **env}, read_only=True,
                       tmpfs={"/tmp": "size=2m"}) as server:
        server.wait_http("/")
        before = wait_workers(server, 2, set())
        with Prober(server.port) as prober:
            status, body = get(server.port, "/fill-tmp")
            assert status == 507 and json.loads(body)["written"] > 0, f"/tmp was not filled: {status} {body!r}"
            _, df = server.exec(["df", "-k", "/tmp"])
            # A body too big to keep in memory goes to a temporary file (Meinheld: over 500 KiB): with /tmp
            # full it must be refused, never handed to the app short.
            try:
                status, body = post_length(server.port, 1024 * 1024)
            except (OSError, http.client.HTTPException) as error:  # refused while the body was sent
                status, body = 0, repr(error).encode()
            assert status in (0, 500, 503, 507) or (status == 200 and json.loads(body)["length"] == 1024 * 1024), (
                f"a 1 MiB body with /tmp full: {status} {body[:200]!r} (df: {df.strip()})\n{server.tail()}")
            # A worker that dies now is replaced with /tmp still full.
            victim = min(before)
            with prober.between_probes():
                kill_worker(server, victim)
            wait_workers(server, 2, {victim})
            time.sleep(1.0)
        assert not prober.failures, f"requests failed with /tmp full: {prober.summary()}\n{server.tail()}"
        assert prober.ok > 10, prober.summary()
        assert get(server.port, "/")[0] == 200


@pytest.mark.parametrize("image,env", SERVERS)
def test_pids_limit_reached_keeps_serving(image: str, env: dict[str, str]) -> None:
    app_image = build_app_image(require_image(image), "starve")
    with run_container(app_image, env={"WEB_CONCURRENCY": "2", **env}, pids_limit=48) as server:
        server.wait_http("/")
        before = wait_workers(server, 2, set())
        with Prober(server.port) as prober:
            status, body = get(server.port, "/threads?n=200&s=3", timeout=60)
            started = json.loads(body)["started"] if status == 200 else None
            time.sleep(0.5)
        assert status == 200 and started is not None and 0 < started < 200, (
            f"the pids limit was not reached: {status} {body[:200]!r}")
        assert not prober.failures, f"requests failed at the pids limit: {prober.summary()}\n{server.tail()}"
        assert prober.ok > 10, prober.summary()
        assert set(workers(server)) == set(before), f"a worker died at the pids limit:\n{server.tail()}"
        assert get(server.port, "/")[0] == 200
