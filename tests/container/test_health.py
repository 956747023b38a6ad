"""Operations no other image offers (README "Running in production"): memory-aware worker counts, probes the
Gunicorn master answers (HEALTH_BIND), SHUTDOWN_DELAY, and a failing ASGI lifespan startup that stops the
container. Real containers, on the images of versions.json (ops fixtures of tests/apps/ops_wsgi and ops_asgi).
"""

from __future__ import annotations

import json
import re
import time

import pytest
import requests
from docker_support import build_app_image, project, require_image, run_container
from test_operations import (EVERY_FLAVOUR, FLAVOURS, WSGI_AND_ASGI, app_image, booted_workers, poll, report,
                             startup_settings)
from test_runtime_contract import explain, in_background, worker_pids

HEALTH_PORT = 8081
REASON = "database unreachable: connection refused (lifespan_fails fixture)"


def inside(server, path: str, port: int = HEALTH_PORT, timeout: float = 1.0) -> tuple[int | None, float]:
    """GET 127.0.0.1:<port><path> from inside the container: (status or None, seconds it took)."""
    code = (f"import time, urllib.request, urllib.error\nstarted = time.monotonic()\n"
            f"try:\n    status = urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout={timeout}).status\n"
            f"except urllib.error.HTTPError as error:\n    status = error.code\n"
            f"except Exception:\n    status = 0\nprint(status, time.monotonic() - started)")
    _, output = server.exec(["python", "-c", code])
    status, took = output.split()
    return (int(status) or None), float(took)


@pytest.mark.parametrize("flavour", EVERY_FLAVOUR)
def test_the_memory_limit_caps_the_worker_count(flavour: str) -> None:
    env = {"WORKERS_PER_CORE": "8", "WORKER_MEMORY": "200M"}  # 16 workers by CPU on 2 CPUs
    with run_container(app_image(flavour), env=env, mem_limit="512m") as server:
        server.wait_http("/")
        settings = startup_settings(server)
        assert (settings["workers"], settings["workers_bound"]) == (2, "memory"), explain(server, str(settings))
        assert (settings["memory_limit"], settings["worker_memory"]) == ("512M", "200M"), explain(server, str(settings))
        pids = poll(lambda: len(worker_pids(server)) == 2 and worker_pids(server), timeout=20) or []
        assert len(pids) == 2, explain(server, f"expected 2 worker processes, found {pids}")


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_web_concurrency_wins_over_the_memory_cap(flavour: str) -> None:
    env = {"WEB_CONCURRENCY": "3", "WORKER_MEMORY": "400M"}
    with run_container(app_image(flavour), env=env, mem_limit="512m") as server:
        server.wait_http("/")
        settings = startup_settings(server)
        assert (settings["workers"], settings["workers_bound"]) == (3, "WEB_CONCURRENCY"), explain(server, str(settings))


# flavour -> (the path that holds its only worker busy, environment for one worker with one thread)
BUSY = {"base-wsgi": ("/slow?s=8", {"WEB_CONCURRENCY": "1", "THREADS": "1"}),
        "fastapi": ("/block?s=8", {"WEB_CONCURRENCY": "1"})}


@pytest.mark.alone  # a probe must answer within 1 s: nothing beside it (make test)
@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_livez_answers_within_a_second_while_the_only_worker_is_busy(flavour: str) -> None:
    path, env = BUSY[flavour]
    env = {**env, "HEALTH_BIND": f"0.0.0.0:{HEALTH_PORT}"}
    with run_container(app_image(flavour), env=env) as server:
        server.wait_http("/")
        assert poll(lambda: inside(server, "/readyz")[0] == 200, timeout=15), explain(server, "never ready")
        in_background(lambda: requests.get(server.url + path, timeout=15))  # cut off when the container goes
        server.wait_log("request started in")
        app_status, app_took = inside(server, "/", port=80, timeout=1.0)
        assert app_status is None, explain(server, f"expected the app itself to be busy, it answered {app_status}")
        for probe in ("/livez", "/readyz"):
            status, took = inside(server, probe)
            assert status == 200 and took < 1.0, explain(server, f"{probe}: {status} after {took:.2f}s")


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_shutdown_delay_drops_readiness_at_once_and_serves_until_it_ends(flavour: str) -> None:
    delay = 4.0
    env = {**FLAVOURS[flavour][2], "HEALTH_BIND": f"0.0.0.0:{HEALTH_PORT}", "SHUTDOWN_DELAY": str(delay)}
    with run_container(app_image(flavour), env=env) as server:
        server.wait_http("/")
        assert poll(lambda: inside(server, "/readyz")[0] == 200, timeout=15), explain(server, "never ready")
        server.container.kill(signal="SIGTERM")
        signalled = time.monotonic()
        status, _ = inside(server, "/readyz")
        assert status == 503, explain(server, f"expected /readyz 503 right after SIGTERM, got {status}")
        served = 0
        while time.monotonic() - signalled < delay - 1.0:  # the whole delay, less a margin for the clock
            answer = requests.get(server.url + "/", timeout=5)
            assert answer.status_code == 200, explain(server, f"a request during SHUTDOWN_DELAY got {answer.status_code}")
            served += 1
            time.sleep(0.1)
        assert served >= 10, explain(server, f"only {served} requests during the delay")
        assert server.wait_exit(timeout=30) == 0, explain(server, "expected exit 0 after the delay")
        took = time.monotonic() - signalled
        assert delay <= took < delay + 15, explain(server, f"stopped {took:.1f}s after SIGTERM (delay {delay}s)")


def test_the_image_healthcheck_asks_readyz_when_health_bind_is_set() -> None:
    env = {"HEALTH_BIND": f"127.0.0.1:{HEALTH_PORT}", "HEALTHCHECK_PATH": "/no-such-path-on-the-app"}
    with run_container(app_image("fastapi"), env=env) as server:
        server.wait_http("/")
        code, output = server.exec(["python", "-m", "gunicorn_image.healthcheck"])
        assert code == 0, explain(server, f"healthcheck with HEALTH_BIND failed: {output}")


ASGI_SERVERS = [pytest.param(image, worker, id=f"{image}-{worker or 'default'}")
                for image in project.IMAGES if "asgi" in project.serves(image)
                for worker in (None, "uvicorn_worker.UvicornH11Worker" if image != "base" else "asgi")]


@pytest.mark.parametrize(("image", "worker"), ASGI_SERVERS)
def test_a_failing_lifespan_startup_stops_the_container_with_its_message(image: str, worker: str | None) -> None:
    env = {"WEB_CONCURRENCY": "2", **({"WORKER_CLASS": worker} if worker else {})}
    with run_container(build_app_image(require_image(image), "lifespan_fails"), env=env) as server:
        started = time.monotonic()
        status = server.wait_exit(timeout=30)
        took = time.monotonic() - started
        logs = server.logs()
        assert status != 0 and took < 15, explain(server, f"expected a non-zero exit within seconds: {status}, {took:.1f}s")
        assert any(REASON in line for line in logs.splitlines()), explain(server, "the app's message is not shown")
        assert logs.count("Booting worker with pid") <= 4, explain(server, "workers were respawned in a loop")


# Inside a container: the proportional set size (KiB) of the master and of each worker.
PSS = r"""
import json, os
found = {}
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    try:
        command = open(f"/proc/{pid}/cmdline", "rb").read()
        rollup = open(f"/proc/{pid}/smaps_rollup").read()
    except OSError:
        continue
    if b"-m\0gunicorn_image.s" in command:  # .start (the master, in the start layer's process) or .serve (exec'd)
        found[pid] = int(next(l for l in rollup.splitlines() if l.startswith("Pss:")).split()[1])
print(json.dumps(found))
"""


def total_pss(image: str, settings: dict[str, str]) -> int:
    """Master + 2 workers serving the image's example app (a framework app: what preloading shares)."""
    env = {"WEB_CONCURRENCY": "2", **settings}
    with run_container(require_image(image), env=env, cap_add=["SYS_PTRACE"]) as server:  # to read workers' smaps
        server.wait_http("/")
        for _ in range(50):
            requests.get(server.url + "/", timeout=5)
        pss = poll(lambda: len(found := json.loads(server.exec(["python", "-c", PSS])[1])) == 3 and found, timeout=10)
        assert pss, explain(server, "expected a master and 2 workers")
        return sum(pss.values())


@pytest.mark.parametrize("image", ["flask", "fastapi"])
def test_preload_makes_the_workers_share_the_apps_memory(image: str) -> None:
    # PRELOAD_MODULES off on both sides: the framework it shares by default would hide what PRELOAD shares.
    alone = total_pss(image, {"PRELOAD": "0", "PRELOAD_MODULES": ""})
    shared = total_pss(image, {"PRELOAD": "1", "PRELOAD_MODULES": ""})
    report(f"{image}: master + 2 workers {shared} KiB PSS with PRELOAD=1, {alone} KiB without")
    assert shared < 0.9 * alone, f"{image}: master + 2 workers {shared} KiB with PRELOAD=1, {alone} KiB without"


@pytest.mark.parametrize("image", ["flask", "fastapi", "starlette"])
def test_the_images_preload_modules_make_the_workers_share_the_framework(image: str) -> None:
    alone, shared = total_pss(image, {"PRELOAD_MODULES": ""}), total_pss(image, {})
    report(f"{image}: master + 2 workers {shared} KiB PSS by default, {alone} KiB with PRELOAD_MODULES empty")
    assert shared < 0.95 * alone, f"{image}: master + 2 workers {shared} KiB by default, {alone} KiB without"


@pytest.mark.parametrize("flavour", EVERY_FLAVOUR)
def test_preload_modules_are_imported_once_by_the_master_and_a_missing_one_is_one_line(flavour: str) -> None:
    env = {**FLAVOURS[flavour][2], "PRELOAD_MODULES": "preloaded_marker,no_such_module_here"}
    with run_container(app_image(flavour), env=env) as server:
        server.wait_http("/")
        workers = booted_workers(server)
        logs = server.logs()
        importers = {int(pid) for pid in re.findall(r"preloaded_marker imported in pid (\d+)", logs)}
        assert 1 in importers and not importers & workers, explain(
            server, f"expected the master (pid 1) to import it and no worker {sorted(workers)}: {sorted(importers)}")
        warning = "PRELOAD_MODULES: no_such_module_here not imported in the master (ModuleNotFoundError"
        assert logs.count(warning) == 1, explain(server, f"expected one line: {warning}...")
