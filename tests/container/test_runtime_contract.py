"""The runtime contract (SPEC §3-§6) in real containers: every environment variable, every app layout,
the three config locations and GUNICORN_CONF, every prestart case, validation, /start-reload.sh, and a
stop/start cycle, on every image whose behaviour differs:

- base with a plain WSGI app (Gunicorn's gthread worker) and with a plain ASGI app (Gunicorn's asgi worker),
- fastapi (uvicorn_worker.UvicornWorker),
- flask (Meinheld; WORKERS_PER_CORE default 2).

Each test runs a throw-away `FROM <image>` + `COPY . /app` of a fixture tree in tests/apps/ (each built
once, see `user_image`). Readiness is always polled (`wait_http`, `wait_log`, `poll`), never slept for.
"""

from __future__ import annotations

import functools
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import requests

from docker_support import (
    Running,
    build_app_image,
    default_worker,
    docker_client,
    family_ids,
    require_image,
    run_container,
)

T = TypeVar("T")

# SPEC §5: the startup JSON line has at least these keys.
REQUIRED_KEYS = (
    "loglevel", "workers", "bind", "graceful_timeout", "timeout", "keepalive",
    "errorlog", "accesslog", "workers_per_core", "use_max_workers", "host", "port",
)
PRESTART_LINE_STARTS = ("Checking for script in ", "Running script ", "There is no script ")
EXIT_QUICKLY = 20.0  # seconds a container with a configuration mistake may take to stop


# --- the images and apps under test ------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One image serving one kind of app; its default worker is read from the image (docker_support)."""

    id: str
    image: str  # an image of versions.json
    app: str  # fixture tree in tests/apps/
    kind: str  # wsgi or asgi

    @property
    def ref(self) -> str:
        return user_image(self.image, self.app)

    @property
    def worker(self) -> str:
        """What Gunicorn logs as "Using worker: ..."."""
        return default_worker(self.image, self.kind).logged

    @property
    def server(self) -> str:
        """The worker class the app's `gunicorn_image.server_info()` names."""
        return default_worker(self.image, self.kind).server

    @property
    def workers_per_core(self) -> float:
        return default_worker(self.image, self.kind).workers_per_core


UVICORN_WORKER = "uvicorn_worker.UvicornWorker"
BASE_WSGI = Variant("base-wsgi", "base", "wsgi_probe", "wsgi")
BASE_ASGI = Variant("base-asgi", "base", "asgi_probe", "asgi")
FASTAPI = Variant("fastapi", "fastapi", "fastapi_probe", "asgi")
FLASK = Variant("flask", "flask", "flask_probe", "wsgi")
# The parent's promises on every image of the family (versions.json), each with the plain probe app of its kind.
VARIANTS = [pytest.param(Variant(id, image, f"{kind}_probe", kind), id=id) for id, image, kind in family_ids()]


@functools.cache
def user_image(image: str, app: str, dockerfile_extra: str = "") -> str:
    """`FROM org/<image>` + `COPY . /app` of tests/apps/<app>/, built once per test run."""
    return build_app_image(require_image(image), app, dockerfile_extra)


# --- reading what a container says -------------------------------------------------------------------


def explain(server: Running, message: str) -> str:
    return f"{message}\n--- last log lines of the container ---\n{server.tail()}"


def poll(probe: Callable[[], T | None], timeout: float, what: str, server: Running) -> T:
    """Call `probe` until it returns something other than None or False; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            pytest.fail(explain(server, f"expected {what} within {timeout}s; it did not happen"))
        time.sleep(0.2)


def json_objects(text: str) -> list[dict[str, Any]]:
    objects = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append(value)
    return objects


def settings_lines(logs: str) -> list[dict[str, Any]]:
    """The startup JSON lines (the effective settings) in the logs, oldest first."""
    return [value for value in json_objects(logs) if all(key in value for key in REQUIRED_KEYS)]


def settings_line(server: Running) -> dict[str, Any]:
    lines = settings_lines(server.logs())
    assert len(lines) == 1, explain(server, f"expected exactly one settings JSON line, found {len(lines)}")
    return lines[0]


def count(logs: str, text: str) -> int:
    """How many log lines contain `text` (logs accumulate over restarts: count, do not just look)."""
    return sum(text in line for line in logs.splitlines())


def using_worker(logs: str) -> list[str]:
    """The worker classes of Gunicorn's `Using worker: <class>` lines."""
    return [line.rpartition("Using worker: ")[2].strip() for line in logs.splitlines() if "Using worker: " in line]


def get(server: Running, path: str = "/", timeout: float = 10, **kwargs: Any) -> requests.Response:
    response = requests.get(server.url + path, timeout=timeout, **kwargs)
    assert response.status_code == 200, explain(
        server, f"expected 200 from GET {path}, got {response.status_code}: {response.text[:300]}")
    return response


def app_env(server: Running, *names: str) -> dict[str, str | None]:
    """The named variables as the app (a worker) sees them."""
    return get(server, "/?env=" + ",".join(names)).json()["env"]


def answering_pid(server: Running) -> int | None:
    try:
        return requests.get(server.url + "/", timeout=3).json()["pid"]
    except (requests.RequestException, ValueError):
        return None


def answering_message(server: Running) -> str | None:
    try:
        return requests.get(server.url + "/", timeout=3).json().get("message")
    except (requests.RequestException, ValueError):
        return None


def python_in(server: Running, code: str) -> str:
    status, output = server.exec(["python", "-c", code])
    assert status == 0, explain(server, f"python in the container failed ({status}): {output}")
    return output


def status_inside(server: Running, url: str) -> str | None:
    """GET from inside the container (for addresses the host cannot reach, like 127.0.0.1)."""
    code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).status)"
    status, output = server.exec(["python", "-c", code])
    return output.strip() if status == 0 else None


# Processes whose parent is PID 1 (the Gunicorn master): the workers.
WORKER_PIDS = """
import os
pids = []
for entry in os.listdir("/proc"):
    try:
        stat = open(f"/proc/{entry}/stat").read()
    except OSError:
        continue
    if entry.isdigit() and stat.rpartition(")")[2].split()[1] == "1":
        pids.append(int(entry))
print(" ".join(map(str, sorted(pids))))
"""

# Listening TCP sockets as "host:port" / "[v6host]:port", from /proc/net/tcp{,6}.
LISTENING = """
import json, socket
found = []
for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
    try:
        rows = open(f"/proc/net/{name}").read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        fields = row.split()
        if fields[3] != "0A":
            continue
        address, port = fields[1].split(":")
        raw = bytes.fromhex(address)
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
        host = socket.inet_ntop(family, raw)
        found.append(f"{host}:{int(port, 16)}" if family == socket.AF_INET else f"[{host}]:{int(port, 16)}")
print(json.dumps(sorted(set(found))))
"""


def worker_pids(server: Running) -> list[int]:
    return [int(pid) for pid in python_in(server, WORKER_PIDS).split()]


def wait_for_workers(server: Running, expected: int, timeout: float = 20.0) -> list[int]:
    """Poll until the master has exactly `expected` worker processes; fail at once if it has more."""

    def probe() -> list[int] | None:
        pids = worker_pids(server)
        assert len(pids) <= expected, explain(server, f"expected {expected} workers, found {len(pids)}: {pids}")
        return pids if len(pids) == expected else None

    return poll(probe, timeout, f"the master to have {expected} worker processes", server)


def listening(server: Running) -> list[str]:
    return json.loads(python_in(server, LISTENING))


def master_argv(server: Running) -> list[str]:
    status, output = server.exec(["cat", "/proc/1/cmdline"])
    assert status == 0, explain(server, f"cannot read /proc/1/cmdline: {output}")
    return output.rstrip("\0").split("\0")


def config_argument(server: Running) -> str:
    argv = master_argv(server)
    assert "-c" in argv[:-1], explain(server, f"expected `-c <config>` in the master's command line, got {argv}")
    return argv[argv.index("-c") + 1]


def in_background(call: Callable[[], Any]) -> None:
    """Run `call` in a daemon thread, ignoring its errors (for requests the server is meant to cut off)."""

    def run() -> None:
        try:
            call()
        except Exception:
            pass

    threading.Thread(target=run, daemon=True).start()


def bridge_subnet() -> str:
    """Docker's default bridge network, from which the requests to published ports reach a container."""
    return docker_client().networks.get("bridge").attrs["IPAM"]["Config"][0]["Subnet"]


def host_cpus() -> int:
    return int(docker_client().info()["NCPU"])


# --- SPEC §5: what users see at startup, on every image ----------------------------------------------


@pytest.fixture(scope="module", params=VARIANTS)
def default_server(request):
    """A user's app on each image with no settings at all; shared by the startup tests, which only read."""
    variant: Variant = request.param
    with run_container(variant.ref) as server:
        server.wait_http("/", timeout=60)
        yield variant, server


def test_startup_prints_the_prestart_lines_then_one_settings_line(default_server) -> None:
    variant, server = default_server
    logs = server.logs()
    for line in ("Checking for script in /app/prestart.sh", "There is no script /app/prestart.sh"):
        assert count(logs, line) == 1, explain(server, f"expected the line {line!r} once, got {count(logs, line)}")
    settings_line(server)


def test_user_app_without_prestart_runs_none(default_server) -> None:
    """The example app's image must not leave a demo prestart.sh behind in a user's /app."""
    variant, server = default_server
    assert "Running script" not in server.logs(), explain(server, "a prestart ran although the user's /app has none")
    status, _ = server.exec(["test", "-e", "/app/prestart.sh"])
    assert status != 0, explain(server, f"expected no /app/prestart.sh in a user's image, {variant.image} has one")


def test_settings_line_shows_the_documented_defaults(default_server) -> None:
    variant, server = default_server
    line = settings_line(server)
    expected = {
        "loglevel": "info", "bind": "0.0.0.0:80", "graceful_timeout": 120, "timeout": 120, "keepalive": 5,
        "errorlog": "-", "accesslog": "-", "workers_per_core": variant.workers_per_core, "use_max_workers": None,
        "host": "0.0.0.0", "port": "80",
    }
    differing = {key: (value, line.get(key)) for key, value in expected.items() if line.get(key) != value}
    assert not differing, explain(server, f"settings line differs from the defaults (expected, got): {differing}")
    cpus = line.get("cpus") or host_cpus()
    assert line["workers"] == max(int(cpus * variant.workers_per_core), 2), explain(
        server, f"expected max(int({cpus} CPUs x {variant.workers_per_core}), 2) workers, got {line['workers']}")


def test_gunicorn_conf_prints_exactly_the_settings_json(default_server) -> None:
    variant, server = default_server
    status, output = server.exec(["python", "/gunicorn_conf.py"])
    assert status == 0, explain(server, f"`python /gunicorn_conf.py` exited {status}: {output}")
    lines = output.strip().splitlines()
    assert len(lines) == 1, explain(server, f"expected one line from `python /gunicorn_conf.py`, got:\n{output}")
    printed, startup = json.loads(lines[0]), settings_line(server)
    assert {key: printed.get(key) for key in REQUIRED_KEYS} == {key: startup[key] for key in REQUIRED_KEYS}, explain(
        server, f"expected `python /gunicorn_conf.py` to print the startup line {startup}, it printed {printed}")


def test_gunicorn_conf_prints_what_the_environment_sets(default_server) -> None:
    variant, server = default_server
    env = {"WEB_CONCURRENCY": "5", "PORT": "8123", "LOG_LEVEL": "Warning"}
    _, output = server.container.exec_run(["python", "/gunicorn_conf.py"], environment=env)
    printed = json.loads(output.decode())
    got = (printed["workers"], printed["bind"], printed["loglevel"])
    assert got == (5, "0.0.0.0:8123", "warning"), explain(
        server, f"with {env} expected workers 5, bind 0.0.0.0:8123, loglevel warning; got {printed}")


def test_master_command_line_names_the_config_file(default_server) -> None:
    variant, server = default_server
    assert config_argument(server) == "/gunicorn_conf.py", explain(
        server, f"expected `-c /gunicorn_conf.py`, the master's command line is {master_argv(server)}")


def test_gunicorn_reports_its_own_startup_lines(default_server) -> None:
    variant, server = default_server
    workers = settings_line(server)["workers"]
    wait_for_workers(server, workers)
    logs = server.logs()
    for text in ("Starting gunicorn", "Listening at: http://0.0.0.0:80 ("):
        assert count(logs, text) == 1, explain(server, f"expected the line {text!r} once")
    assert using_worker(logs) == [variant.worker], explain(server, f"expected `Using worker: {variant.worker}` once")
    assert count(logs, "Booting worker with pid") == workers, explain(
        server, f"expected {workers} `Booting worker with pid` lines, got {count(logs, 'Booting worker with pid')}")


def test_default_worker_serves_the_app(default_server) -> None:
    """base picks gthread for a WSGI app and Gunicorn's asgi worker for an ASGI app; the others have theirs."""
    variant, server = default_server
    answer = get(server).json()
    assert answer["server"].endswith(" " + variant.server), explain(
        server, f"expected the app to be served by {variant.server}, got {answer}")


def test_request_shows_up_in_the_access_log(default_server) -> None:
    variant, server = default_server
    path = f"/access-{uuid.uuid4().hex[:8]}"
    get(server, path)
    server.wait_log(f"GET {path} HTTP/1.1", timeout=10)


# --- SPEC §4: which app is served --------------------------------------------------------------------


APP_CASES = [
    # image, fixture tree, env, the file (and variable) whose app must answer
    pytest.param("base", "wsgi_probe", {}, "main.py", id="main.py-by-default"),
    pytest.param("base", "package_layout", {}, "app/main.py", id="package-app.main-wins-over-main.py"),
    pytest.param("base", "package_layout", {"MODULE_NAME": "main"}, "main.py", id="MODULE_NAME"),
    pytest.param("base", "wsgi_probe", {"VARIABLE_NAME": "other"}, "main.py:other", id="VARIABLE_NAME"),
    pytest.param("base", "wsgi_probe", {"MODULE_NAME": "custom.web", "VARIABLE_NAME": "api"}, "custom/web.py:api",
                 id="custom-module-and-variable"),
    pytest.param("base", "wsgi_probe",
                 {"APP_MODULE": "custom.web:api", "MODULE_NAME": "main", "VARIABLE_NAME": "other"},
                 "custom/web.py:api", id="APP_MODULE-wins"),
    pytest.param("fastapi", "asgi_probe", {"APP_MODULE": "main:app", "MODULE_NAME": "nothing"}, "main.py",
                 id="fastapi-APP_MODULE-wins"),
]


@pytest.mark.parametrize("image,app,env,layout", APP_CASES)
def test_app_is_found_by_layout_and_variables(image: str, app: str, env: dict[str, str], layout: str) -> None:
    with run_container(user_image(image, app), env=env) as server:
        answer = server.wait_http("/", timeout=60)
        assert answer.status_code == 200 and answer.json()["layout"] == layout, explain(
            server, f"with {env} expected the app in {layout} to answer, got {answer.status_code} {answer.text[:200]}")


# --- SPEC §4: which Gunicorn config is used ----------------------------------------------------------


CONFIG_CASES = [
    # fixture tree, env, the `-c` path on the master's command line, the timeout that config sets
    pytest.param("wsgi_probe", {}, "/gunicorn_conf.py", 120, id="image-default"),
    pytest.param("config_at_root", {}, "/app/gunicorn_conf.py", 31, id="app-gunicorn_conf.py"),
    pytest.param("config_in_package", {}, "/app/app/gunicorn_conf.py", 32, id="app-app-gunicorn_conf.py"),
    pytest.param("config_at_root", {"GUNICORN_CONF": "/app/conf/custom.py"}, "/app/conf/custom.py", 33,
                 id="GUNICORN_CONF-wins"),
    pytest.param("config_at_root", {"GUNICORN_CONF": "conf/custom.py"}, "/app/conf/custom.py", 33,
                 id="GUNICORN_CONF-relative-to-app"),
]


@pytest.mark.parametrize("app,env,config,timeout", CONFIG_CASES)
def test_config_file_is_found_in_tiangolos_order_or_named_by_gunicorn_conf(
    app: str, env: dict[str, str], config: str, timeout: int
) -> None:
    with run_container(user_image("base", app), env=env) as server:
        server.wait_http("/")
        assert config_argument(server) == config, explain(
            server, f"expected `-c {config}`, the master's command line is {master_argv(server)}")
        assert settings_line(server)["timeout"] == timeout, explain(server, f"expected timeout {timeout} from {config}")


def test_standalone_config_named_by_gunicorn_conf_is_used_as_is() -> None:
    """A config written from scratch (not extending ours): its `workers = 1` is what Gunicorn runs."""
    env = {"GUNICORN_CONF": "/app/conf/standalone.py"}
    with run_container(user_image("base", "config_at_root"), env=env) as server:
        server.wait_http("/")
        assert config_argument(server) == "/app/conf/standalone.py", explain(
            server, f"expected `-c /app/conf/standalone.py`, the master's command line is {master_argv(server)}")
        wait_for_workers(server, 1)


def test_user_config_can_extend_the_default_one() -> None:
    """/app/gunicorn_conf.py does `from gunicorn_image.gunicorn_config import *` and sets timeout = 31; the
    environment still drives everything else, and the startup line is still printed."""
    env = {"KEEP_ALIVE": "7", "WEB_CONCURRENCY": "1", "LOG_LEVEL": "warning"}
    with run_container(user_image("base", "config_at_root"), env=env) as server:
        server.wait_http("/")
        line = settings_line(server)
        got = {key: line[key] for key in ("timeout", "keepalive", "workers", "loglevel")}
        assert got == {"timeout": 31, "keepalive": 7, "workers": 1, "loglevel": "warning"}, explain(
            server, f"with {env} expected the config's timeout 31 and the environment's other values, got {got}")
        wait_for_workers(server, 1)


@pytest.mark.parametrize("env,worker", [
    pytest.param({}, "uvicorn_worker.UvicornH11Worker", id="config-worker_class-kept"),
    pytest.param({"WORKER_CLASS": UVICORN_WORKER}, UVICORN_WORKER, id="WORKER_CLASS-wins"),
])
def test_worker_class_from_user_config_is_kept_unless_worker_class_is_set(env: dict[str, str], worker: str) -> None:
    """fastapi's image default (UvicornWorker) must not override a user's `worker_class`."""
    with run_container(user_image("fastapi", "fastapi_config_worker"), env=env) as server:
        answer = server.wait_http("/", timeout=60).json()
        assert answer["server"].endswith(" " + worker), explain(server, f"expected {worker} to serve, got {answer}")
        assert using_worker(server.logs()) == [worker], explain(server, f"expected `Using worker: {worker}`")


@pytest.mark.parametrize("app,env,expected", [
    pytest.param("wsgi_probe", {"GUNICORN_CMD_ARGS": "--timeout 45 --workers 1"}, {"timeout": 45, "workers": 1},
                 id="over-the-default-config"),
    pytest.param("config_at_root", {"GUNICORN_CMD_ARGS": "--timeout 45", "WEB_CONCURRENCY": "1"},
                 {"timeout": 45, "workers": 1}, id="over-a-user-config"),
])
def test_gunicorn_cmd_args_beat_the_config_file(app: str, env: dict[str, str], expected: dict[str, int]) -> None:
    with run_container(user_image("base", app), env=env) as server:
        server.wait_http("/")
        line = settings_line(server)
        got = {key: line[key] for key in expected}
        assert got == expected, explain(server, f"with {env} expected {expected}, got {got}")
        wait_for_workers(server, expected["workers"])


# --- SPEC §4: worker count ---------------------------------------------------------------------------


WORKER_COUNT_CASES = [
    # image, env, CPU quota (docker run --cpus), CPUs the machine needs, expected workers
    pytest.param("base", {"WORKERS_PER_CORE": "3"}, 1.0, 1, 3, id="cpus1-WORKERS_PER_CORE3"),
    pytest.param("base", {}, 1.0, 1, 2, id="cpus1-floor-of-2"),
    pytest.param("base", {"WORKERS_PER_CORE": "1.5"}, 1.5, 2, 3, id="cpus1.5-rounds-up-to-2"),
    pytest.param("base", {"WORKERS_PER_CORE": "3", "MAX_WORKERS": "2"}, 1.0, 1, 2, id="MAX_WORKERS-caps"),
    pytest.param("base", {"MAX_WORKERS": "1"}, None, 1, 1, id="MAX_WORKERS-applies-after-the-floor"),
    pytest.param("base", {"WEB_CONCURRENCY": "3", "MAX_WORKERS": "1", "WORKERS_PER_CORE": "0.5"}, 1.0, 1, 3,
                 id="WEB_CONCURRENCY-wins"),
    pytest.param("flask", {}, 2.0, 2, 4, id="flask-default-2-per-core"),
]


@pytest.mark.parametrize("image,env,cpus,needs,workers", WORKER_COUNT_CASES)
def test_worker_count_follows_cpu_quota(
    image: str, env: dict[str, str], cpus: float | None, needs: int, workers: int
) -> None:
    if host_cpus() < needs:
        pytest.skip(f"needs a machine with {needs} CPUs")
    app = {"base": "wsgi_probe", "flask": "flask_probe"}[image]
    options = {"nano_cpus": int(cpus * 1e9)} if cpus else {}
    with run_container(user_image(image, app), env=env, **options) as server:
        server.wait_http("/", timeout=60)
        line = settings_line(server)
        assert line["workers"] == workers, explain(
            server, f"with --cpus={cpus} {env} expected {workers} workers, the settings line says {line['workers']}")
        wait_for_workers(server, workers)


# --- SPEC §4: where the server listens ---------------------------------------------------------------


BIND_CASES = [
    # env, the container port the host reaches (None: not reachable), settings line bind, the one listening socket
    pytest.param({"PORT": "8000"}, 8000, "0.0.0.0:8000", "0.0.0.0:8000", id="PORT"),
    pytest.param({"HOST": "127.0.0.1"}, None, "127.0.0.1:80", "127.0.0.1:80", id="HOST"),
    pytest.param({"BIND": "0.0.0.0:8080", "HOST": "127.0.0.1", "PORT": "8000"}, 8080, "0.0.0.0:8080",
                 "0.0.0.0:8080", id="BIND-wins"),
]


@pytest.mark.parametrize("env,port,bind,socket_address", BIND_CASES)
def test_server_listens_exactly_where_host_port_bind_say(
    env: dict[str, str], port: int | None, bind: str, socket_address: str
) -> None:
    with run_container(user_image("base", "wsgi_probe"), env=env, port=port or 80) as server:
        if port:
            server.wait_http("/")
        else:
            poll(lambda: status_inside(server, f"http://{bind}/") == "200", 30, f"http://{bind}/ to answer inside",
                 server)
        line = settings_line(server)
        assert line["bind"] == bind, explain(server, f"expected bind {bind!r} in the settings line: {line['bind']!r}")
        sockets = listening(server)
        assert sockets == [socket_address], explain(
            server, f"with {env} expected to listen on {socket_address} only, listening on {sockets}")


# --- SPEC §4: LOG_LEVEL, WORKER_CLASS, timeouts, logs ------------------------------------------------


LOG_LEVEL_CASES = [
    # image, fixture tree, LOG_LEVEL, settings loglevel, a text that must appear, one that must not
    pytest.param("base", "wsgi_probe", "DEBUG", "debug", "[DEBUG]", None, id="base-DEBUG"),
    pytest.param("base", "wsgi_probe", "Warning", "warning", None, "Booting worker with pid", id="base-Warning"),
    pytest.param("fastapi", "fastapi_probe", "WARNING", "warning", None, "Application startup complete",
                 id="fastapi-WARNING"),
    pytest.param("fastapi", "fastapi_probe", "debug", "debug", "[DEBUG]", None, id="fastapi-debug"),
]


@pytest.mark.parametrize("image,app,level,loglevel,present,absent", LOG_LEVEL_CASES)
def test_log_level_is_case_insensitive_and_reaches_every_logger(
    image: str, app: str, level: str, loglevel: str, present: str | None, absent: str | None
) -> None:
    with run_container(user_image(image, app), env={"LOG_LEVEL": level, "WEB_CONCURRENCY": "1"}) as server:
        server.wait_http("/", timeout=60)
        assert settings_line(server)["loglevel"] == loglevel, explain(server, f"expected loglevel {loglevel}")
        if present:
            server.wait_log(present, timeout=10)
        if absent:  # the one worker has booted and served: its startup lines would be out by now
            assert absent not in server.logs(), explain(server, f"LOG_LEVEL={level} but {absent!r} was logged")


WORKER_CLASS_CASES = [
    # image, fixture tree, env, the `Using worker:` name, the class that serves the app
    pytest.param("base", "wsgi_probe", {"WORKER_CLASS": "sync"}, "sync", "gunicorn.workers.sync.SyncWorker",
                 id="base-sync"),
    pytest.param("base", "wsgi_probe", {"GUNICORN_CMD_ARGS": "-k sync"}, "sync", "gunicorn.workers.sync.SyncWorker",
                 id="base-GUNICORN_CMD_ARGS-k"),
    pytest.param("fastapi", "fastapi_probe", {"WORKER_CLASS": "uvicorn.workers.UvicornWorker"}, UVICORN_WORKER,
                 UVICORN_WORKER, id="fastapi-deprecated-uvicorn.workers-name"),
    pytest.param("fastapi", "fastapi_probe", {"WORKER_CLASS": "asgi"}, "asgi", "gunicorn.workers.gasgi.ASGIWorker",
                 id="fastapi-gunicorn-asgi"),
]


@pytest.mark.parametrize("image,app,env,using,served_by", WORKER_CLASS_CASES)
def test_worker_class_variable_picks_the_worker(
    image: str, app: str, env: dict[str, str], using: str, served_by: str
) -> None:
    with run_container(user_image(image, app), env={**env, "WEB_CONCURRENCY": "1"}) as server:
        answer = server.wait_http("/", timeout=60).json()
        assert answer["server"].endswith(" " + served_by), explain(
            server, f"with {env} expected {served_by} to serve, got {answer}")
        assert using_worker(server.logs()) == [using], explain(server, f"expected `Using worker: {using}`")


def test_timeouts_reach_gunicorn() -> None:
    env = {"TIMEOUT": "7", "GRACEFUL_TIMEOUT": "3", "KEEP_ALIVE": "2"}
    with run_container(user_image("base", "wsgi_probe"), env=env) as server:
        server.wait_http("/")
        line = settings_line(server)
        got = {key: line[key] for key in ("timeout", "graceful_timeout", "keepalive")}
        assert got == {"timeout": 7, "graceful_timeout": 3, "keepalive": 2}, explain(server, f"with {env} got {got}")


def test_worker_that_exceeds_timeout_is_killed_and_replaced() -> None:
    env = {"TIMEOUT": "1", "WORKER_CLASS": "sync", "WEB_CONCURRENCY": "1"}
    with run_container(user_image("base", "wsgi_probe"), env=env) as server:
        first = server.wait_http("/").json()["pid"]
        in_background(lambda: requests.get(server.url + "/sleep?s=20", timeout=30))
        server.wait_log("WORKER TIMEOUT", timeout=15)
        second = poll(lambda: answering_pid(server), 20, "a new worker to answer", server)
        assert second != first, explain(server, f"expected a new worker after the timeout, pid is still {first}")


def test_idle_keepalive_connection_is_closed_after_keep_alive() -> None:
    with run_container(user_image("base", "wsgi_probe"), env={"KEEP_ALIVE": "1", "WEB_CONCURRENCY": "1"}) as server:
        server.wait_http("/")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            received = b""
            while not received.endswith(b"}"):  # the JSON body ends with }
                chunk = connection.recv(65536)
                assert chunk, explain(server, f"connection closed before the response was complete: {received!r}")
                received += chunk
            assert b"connection: close" not in received.lower(), explain(
                server, f"expected a kept-alive connection, the server closes it: {received!r}")
            started = time.monotonic()
            leftover = connection.recv(65536)  # returns b"" when the server closes the idle connection
            idle = time.monotonic() - started
        assert leftover == b"" and idle < 4, explain(
            server, f"expected the idle connection closed after about 1 s (KEEP_ALIVE=1; the default is 5), "
                    f"got {leftover!r} after {idle:.1f}s")


def test_graceful_timeout_bounds_shutdown_with_a_request_in_flight() -> None:
    env = {"GRACEFUL_TIMEOUT": "1", "WEB_CONCURRENCY": "1"}
    with run_container(user_image("base", "wsgi_probe"), env=env) as server:
        server.wait_http("/")
        in_background(lambda: requests.get(server.url + "/sleep?s=60", timeout=70))
        server.wait_log("probe handled /sleep")
        started = time.monotonic()
        server.container.stop(timeout=30)
        took = time.monotonic() - started
        assert took < 10, explain(
            server, f"with GRACEFUL_TIMEOUT=1 and a 60 s request in flight, expected `docker stop` within a few "
                    f"seconds, it took {took:.1f}s")


ACCESS_LOG_VARIANTS = [pytest.param(variant, id=variant.id) for variant in (BASE_WSGI, FASTAPI, FLASK)]


@pytest.mark.parametrize("variant", ACCESS_LOG_VARIANTS)
def test_empty_access_log_silences_access_lines(variant: Variant) -> None:
    with run_container(variant.ref, env={"ACCESS_LOG": "", "WEB_CONCURRENCY": "1"}) as server:
        server.wait_http("/", timeout=60)
        quiet, sentinel = (f"/{name}-{uuid.uuid4().hex[:8]}" for name in ("quiet", "sentinel"))
        get(server, quiet)
        get(server, sentinel)
        # The probe apps log each request themselves. Once the sentinel's line is out, the quiet request's
        # access line (written right after its response, before the sentinel was even sent) would be too.
        server.wait_log(f"probe handled {sentinel}", timeout=10)
        assert f"GET {quiet}" not in server.logs(), explain(
            server, f"ACCESS_LOG='' but the access line for {quiet} was logged")
        line = settings_line(server)
        assert line["accesslog"] is None, explain(server, f"expected accesslog null, got {line['accesslog']!r}")


@pytest.mark.parametrize("variant", [
    pytest.param(BASE_WSGI, id="base-wsgi"),
    pytest.param(FASTAPI, id="fastapi"),
    pytest.param(FLASK, id="flask"),
])
def test_access_log_has_lines_only_for_real_requests(variant: Variant) -> None:
    with run_container(variant.ref, env={"WEB_CONCURRENCY": "1"}) as server:
        server.wait_http("/", timeout=60)
        paths = [f"/real-{number}-{uuid.uuid4().hex[:8]}" for number in range(3)]
        for path in paths:  # a new connection each, closed by the client after the answer
            get(server, path)
        server.wait_log(f"GET {paths[-1]} HTTP/1.1", timeout=10)
        access_lines = [line for line in server.logs().splitlines() if " HTTP/1." in line]
        bogus = [line for line in access_lines if not re.search(r'"[A-Z]+ /\S* HTTP/1\.[01]"', line)]
        assert not bogus, explain(server, f"expected access lines for real requests only, also got {bogus}")


@pytest.mark.parametrize("variant", ACCESS_LOG_VARIANTS)
def test_empty_error_log_silences_server_lines(variant: Variant) -> None:
    with run_container(variant.ref, env={"ERROR_LOG": "", "WEB_CONCURRENCY": "1"}) as server:
        server.wait_http("/", timeout=60)
        path = f"/still-{uuid.uuid4().hex[:8]}"
        get(server, path)
        server.wait_log(f"GET {path}", timeout=10)  # the access log still works
        logs = server.logs()
        for text in ("Booting worker with pid", "Starting gunicorn", "Application startup complete"):
            assert text not in logs, explain(server, f"ERROR_LOG='' but {text!r} was logged")


def test_log_files_receive_the_lines() -> None:
    env = {"ACCESS_LOG": "/tmp/access.log", "ERROR_LOG": "/tmp/error.log", "WEB_CONCURRENCY": "1"}
    with run_container(user_image("base", "wsgi_probe"), env=env) as server:
        server.wait_http("/")
        path = f"/to-file-{uuid.uuid4().hex[:8]}"
        get(server, path)
        poll(lambda: path in server.exec(["cat", "/tmp/access.log"])[1], 10, f"{path} in /tmp/access.log", server)
        errors = server.exec(["cat", "/tmp/error.log"])[1]
        assert "Booting worker with pid" in errors, explain(
            server, f"expected Gunicorn's lines in /tmp/error.log, got:\n{errors}")
        assert f"GET {path}" not in server.logs(), explain(server, "the access line went to stdout, not to the file")


# --- new variables: FORWARDED_ALLOW_IPS, MAX_REQUESTS(_JITTER), THREADS, LOG_FORMAT ------------------


FORWARDED_CASES = [
    # variant, FORWARDED_ALLOW_IPS ("BRIDGE": Docker's bridge subnet, where our requests come from),
    # what the app reports, what it must see ("PEER": the address the request really came from)
    pytest.param(FASTAPI, "BRIDGE", "client", "203.0.113.7", id="fastapi-allowed-proxy-gives-client-address"),
    pytest.param(FASTAPI, None, "client", "PEER", id="fastapi-default-ignores-the-header"),
    pytest.param(FASTAPI, "10.255.255.1", "client", "PEER", id="fastapi-other-proxy-ignored"),
    pytest.param(BASE_WSGI, "BRIDGE", "scheme", "https", id="base-allowed-proxy-sets-the-scheme"),
    pytest.param(BASE_WSGI, None, "scheme", "http", id="base-default-ignores-the-header"),
]


@pytest.mark.parametrize("variant,allow,key,expected", FORWARDED_CASES)
def test_forwarded_headers_are_trusted_only_from_forwarded_allow_ips(
    variant: Variant, allow: str | None, key: str, expected: str
) -> None:
    env = {"WEB_CONCURRENCY": "1"}
    if allow:
        env["FORWARDED_ALLOW_IPS"] = bridge_subnet() if allow == "BRIDGE" else allow
    with run_container(variant.ref, env=env) as server:
        peer = server.wait_http("/", timeout=60).json()["client"]
        headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        answer = get(server, "/", headers=headers).json()
        want = peer if expected == "PEER" else expected
        assert answer[key] == want, explain(
            server, f"FORWARDED_ALLOW_IPS={env.get('FORWARDED_ALLOW_IPS')!r}, request from {peer} with {headers}: "
                    f"expected {key} {want!r}, the app saw {answer[key]!r}")


@pytest.mark.parametrize("variant,most", [
    pytest.param(BASE_WSGI, 5, id="base-wsgi"),
    # Uvicorn looks at its request count once per tick (0.1 s): a worker may serve a few more before leaving.
    pytest.param(FASTAPI, 200, id="fastapi"),
])
def test_worker_is_recycled_after_max_requests(variant: Variant, most: int) -> None:
    env = {"MAX_REQUESTS": "3", "MAX_REQUESTS_JITTER": "2", "WEB_CONCURRENCY": "1"}
    with run_container(variant.ref, env=env) as server:
        first = server.wait_http("/", timeout=60).json()["pid"]
        served = 1
        deadline = time.monotonic() + 60
        while (pid := answering_pid(server)) in (first, None):
            served += pid == first
            assert served <= most and time.monotonic() < deadline, explain(
                server, f"with {env} expected worker {first} replaced after 3 to 5 requests; it served {served}")
        assert served >= 3, explain(server, f"with {env} worker {first} was replaced after only {served} requests")
        server.wait_log("Autorestarting worker" if variant is BASE_WSGI else "Maximum request limit", timeout=10)


def test_threads_serve_requests_concurrently_in_one_worker() -> None:
    with run_container(user_image("base", "wsgi_probe"), env={"THREADS": "3", "WEB_CONCURRENCY": "1"}) as server:
        server.wait_http("/")
        answers: list[dict[str, Any]] = []

        def barrier_request() -> None:  # answers only once 3 requests are inside the worker at once
            answers.append(get(server, "/barrier?n=3", timeout=20).json())

        threads = [threading.Thread(target=barrier_request) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        outcomes = sorted(str(answer.get("barrier")) for answer in answers)
        assert outcomes == ["passed"] * 3, explain(
            server, f"THREADS=3, one worker: expected 3 requests inside it at once, got {outcomes}")
        assert len({answer["pid"] for answer in answers}) == 1, explain(server, f"expected one worker: {answers}")


@pytest.mark.parametrize("variant", ACCESS_LOG_VARIANTS)
def test_json_log_format_makes_every_log_line_one_json_object(variant: Variant) -> None:
    with run_container(variant.ref, env={"LOG_FORMAT": "json", "WEB_CONCURRENCY": "1"}) as server:
        server.wait_http("/", timeout=60)
        path = f"/json-{uuid.uuid4().hex[:8]}"
        get(server, path)
        server.wait_log(f'"path": "{path}"', timeout=10)
        logs = server.logs()
        not_json = [line for line in logs.splitlines()
                    if line.strip() and not line.startswith(PRESTART_LINE_STARTS) and len(json_objects(line)) != 1]
        assert not not_json, explain(server, f"LOG_FORMAT=json but these lines are not JSON objects: {not_json}")
        records = json_objects(logs)
        access = [record for record in records if record.get("path") == path]
        assert len(access) == 1 and access[0].get("status") == 200, explain(
            server, f"expected one JSON access record for {path} with status 200, got {access}")
        messages = [str(record.get("message")) for record in records]
        assert any("Booting worker" in message for message in messages), explain(server, "no JSON Gunicorn lines")
        assert f"probe handled {path}" in messages, explain(server, "expected the app's own log line as JSON")


# --- SPEC §6: validation -----------------------------------------------------------------------------


VALIDATION_CASES = [
    # image, fixture tree, env, the text the one error line must contain (variable and value)
    pytest.param("base", "wsgi_probe", {"WORKERS_PER_CORE": "abc"}, 'WORKERS_PER_CORE="abc"', id="WORKERS_PER_CORE"),
    pytest.param("base", "wsgi_probe", {"WEB_CONCURRENCY": "0"}, 'WEB_CONCURRENCY="0"', id="WEB_CONCURRENCY"),
    pytest.param("base", "wsgi_probe", {"MAX_WORKERS": "x"}, 'MAX_WORKERS="x"', id="MAX_WORKERS"),
    pytest.param("base", "wsgi_probe", {"PORT": "http"}, 'PORT="http"', id="PORT"),
    pytest.param("base", "wsgi_probe", {"BIND": "0.0.0.0:port"}, 'BIND="0.0.0.0:port"', id="BIND"),
    pytest.param("base", "wsgi_probe", {"LOG_LEVEL": "loud"}, 'LOG_LEVEL="loud"', id="LOG_LEVEL"),
    pytest.param("base", "wsgi_probe", {"TIMEOUT": "-1"}, 'TIMEOUT="-1"', id="TIMEOUT"),
    pytest.param("base", "wsgi_probe", {"GRACEFUL_TIMEOUT": "1.5"}, 'GRACEFUL_TIMEOUT="1.5"', id="GRACEFUL_TIMEOUT"),
    pytest.param("base", "wsgi_probe", {"KEEP_ALIVE": "soon"}, 'KEEP_ALIVE="soon"', id="KEEP_ALIVE"),
    pytest.param("base", "wsgi_probe", {"GUNICORN_CONF": "/app/missing_conf.py"},
                 'GUNICORN_CONF="/app/missing_conf.py"', id="GUNICORN_CONF-missing-file"),
    pytest.param("base", "wsgi_probe", {"WORKER_CLASS": "warp"}, 'WORKER_CLASS="warp"', id="WORKER_CLASS-unknown"),
    pytest.param("fastapi", "fastapi_probe", {"WORKER_CLASS": "nowhere.Worker"}, 'WORKER_CLASS="nowhere.Worker"',
                 id="WORKER_CLASS-not-importable"),
    pytest.param("base", "wsgi_probe", {"MODULE_NAME": "nothing"}, 'MODULE_NAME="nothing"',
                 id="MODULE_NAME-missing-module"),
    pytest.param("base", "wsgi_probe", {"APP_MODULE": "missing.module:app"}, 'APP_MODULE="missing.module:app"',
                 id="APP_MODULE-missing-module"),
    pytest.param("fastapi", "fastapi_probe", {"APP_MODULE": "missing.module:app"}, 'APP_MODULE="missing.module:app"',
                 id="fastapi-APP_MODULE-missing-module"),
    pytest.param("base", "wsgi_probe", {"VARIABLE_NAME": "missing"}, 'VARIABLE_NAME="missing"',
                 id="VARIABLE_NAME-missing-object"),
    pytest.param("fastapi", "fastapi_probe", {"VARIABLE_NAME": "missing"}, 'VARIABLE_NAME="missing"',
                 id="fastapi-VARIABLE_NAME-missing-object"),
    pytest.param("base", "wsgi_probe", {"FORWARDED_ALLOW_IPS": "proxy"}, 'FORWARDED_ALLOW_IPS="proxy"',
                 id="FORWARDED_ALLOW_IPS"),
    pytest.param("base", "wsgi_probe", {"MAX_REQUESTS": "-5"}, 'MAX_REQUESTS="-5"', id="MAX_REQUESTS"),
    pytest.param("base", "wsgi_probe", {"MAX_REQUESTS_JITTER": "some"}, 'MAX_REQUESTS_JITTER="some"',
                 id="MAX_REQUESTS_JITTER"),
    pytest.param("base", "wsgi_probe", {"THREADS": "0"}, 'THREADS="0"', id="THREADS"),
    pytest.param("base", "wsgi_probe", {"LOG_FORMAT": "xml"}, 'LOG_FORMAT="xml"', id="LOG_FORMAT"),
    pytest.param("base", "wsgi_probe", {"RELOAD_DIRS": "/nowhere"}, 'RELOAD_DIRS="/nowhere"', id="RELOAD_DIRS"),
    pytest.param("base", "wsgi_probe", {"RUN_AS_ROOT": "maybe"}, 'RUN_AS_ROOT="maybe"', id="RUN_AS_ROOT"),
    pytest.param("base", "wsgi_probe", {"APP_USER": "nobody-here"}, 'APP_USER="nobody-here"', id="APP_USER"),
    pytest.param("base", "wsgi_probe", {"CONTROL_SOCKET": "gunicorn.ctl"}, 'CONTROL_SOCKET="gunicorn.ctl"',
                 id="CONTROL_SOCKET"),
    pytest.param("base", "wsgi_probe", {"PROMETHEUS_MULTIPROC_DIR": "metrics"}, 'PROMETHEUS_MULTIPROC_DIR="metrics"',
                 id="PROMETHEUS_MULTIPROC_DIR"),
]


def expect_stops_with_one_line(ref: str, env: dict[str, str], named: str, status: int | None = None) -> str:
    """The container exits quickly and non-zero (or with `status`); exactly one line contains `named` and
    starts with `Error: `; no Python traceback; Gunicorn never started. Returns the logs."""
    started = time.monotonic()
    with run_container(ref, env=env) as server:
        code = server.wait_exit(timeout=EXIT_QUICKLY)
        took = time.monotonic() - started
        logs = server.logs()
        naming = [line for line in logs.splitlines() if named in line]
        assert (code != 0 if status is None else code == status), explain(
            server, f"with {env} expected exit status {status or 'non-zero'}, got {code}")
        assert took < EXIT_QUICKLY, explain(server, f"with {env} the container took {took:.1f}s to stop")
        assert len(naming) == 1, explain(server, f"with {env} expected one line containing {named!r}, got {naming}")
        assert naming[0].startswith("Error: "), explain(server, f"expected the line to start `Error: `: {naming[0]!r}")
        assert "Traceback" not in logs, explain(server, f"with {env} a Python traceback was printed")
        assert "Starting gunicorn" not in logs, explain(server, f"with {env} Gunicorn was started anyway")
        return logs


@pytest.mark.parametrize("image,app,env,named", VALIDATION_CASES)
def test_bad_value_stops_the_container_with_one_clear_line(
    image: str, app: str, env: dict[str, str], named: str
) -> None:
    expect_stops_with_one_line(user_image(image, app), env, named)


def test_bad_value_line_says_what_is_allowed() -> None:
    logs = expect_stops_with_one_line(user_image("base", "wsgi_probe"), {"PORT": "http"}, 'PORT="http"')
    line = next(line for line in logs.splitlines() if 'PORT="http"' in line)
    assert "allowed: a TCP port number from 1 to 65535" in line, f"expected the line to say what is allowed: {line!r}"


def test_image_without_an_app_stops_with_one_clear_line() -> None:
    """A user's /app with no main.py (here: only static files, and the example app removed)."""
    ref = user_image("base", "static_only", "RUN rm -f /app/main.py\n")
    logs = expect_stops_with_one_line(ref, {}, "No app found")
    line = next(line for line in logs.splitlines() if "No app found" in line)
    assert "MODULE_NAME" in line and "APP_MODULE" in line, f"expected the line to say what to set: {line!r}"


# --- SPEC §6: prestart -------------------------------------------------------------------------------


def test_default_prestart_runs_with_bash_in_app_and_its_exports_reach_the_app() -> None:
    with run_container(user_image("base", "prestart_scripts")) as server:
        server.wait_http("/")
        logs = server.logs()
        for line in ("Checking for script in /app/prestart.sh", "Running script /app/prestart.sh",
                     "prestart says: working directory is /app"):
            assert count(logs, line) == 1, explain(server, f"expected the line {line!r} once")
        env = app_env(server, "PRESTART_RAN", "PRESTART_BASHISMS")
        assert env == {"PRESTART_RAN": "default", "PRESTART_BASHISMS": "arrays and [[ ]] work"}, explain(
            server, f"expected the prestart's exports (made with bash arrays and [[ ]]) in the app, got {env}")


def test_relative_pre_start_path_is_relative_to_app() -> None:
    with run_container(user_image("base", "prestart_scripts"), env={"PRE_START_PATH": "scripts/relative.sh"}) as server:
        server.wait_http("/")
        assert count(server.logs(), "Running script /app/scripts/relative.sh") == 1, explain(
            server, "expected `Running script /app/scripts/relative.sh` once")
        env = app_env(server, "PRESTART_RAN")
        assert env == {"PRESTART_RAN": "relative"}, explain(server, f"expected relative.sh's export, got {env}")


def test_empty_pre_start_path_disables_the_prestart() -> None:
    with run_container(user_image("base", "prestart_scripts"), env={"PRE_START_PATH": ""}) as server:
        server.wait_http("/")
        logs = server.logs()
        assert "Checking for script" not in logs and "Running script" not in logs, explain(
            server, "PRE_START_PATH='' but a prestart was looked for")
        env = app_env(server, "PRESTART_RAN")
        assert env == {"PRESTART_RAN": None}, explain(server, f"PRE_START_PATH='' but /app/prestart.sh ran: {env}")


def test_missing_pre_start_path_is_reported_and_skipped() -> None:
    env = {"PRE_START_PATH": "/nowhere/prestart.sh"}
    with run_container(user_image("base", "prestart_scripts"), env=env) as server:
        server.wait_http("/")
        logs = server.logs()
        for line in ("Checking for script in /nowhere/prestart.sh", "There is no script /nowhere/prestart.sh"):
            assert count(logs, line) == 1, explain(server, f"expected the line {line!r} once")


def test_failing_prestart_stops_startup_with_a_line_saying_so() -> None:
    ref, env = user_image("base", "prestart_scripts"), {"PRE_START_PATH": "/app/scripts/fail.sh"}
    logs = expect_stops_with_one_line(ref, env, "/app/scripts/fail.sh (PRE_START_PATH)", status=1)
    assert "prestart: database is not reachable" in logs, f"expected the script's own output shown:\n{logs}"
    line = next(line for line in logs.splitlines() if "(PRE_START_PATH)" in line)
    assert "failed with exit status 1" in line and "not started" in line, f"expected the line to say so: {line!r}"


# --- SPEC §6: /start-reload.sh -----------------------------------------------------------------------


RELOAD_PRESTART = "RUN printf 'export FROM_PRESTART=reload\\n' > /opt/reload-prestart.sh\n"
RELOAD_CASES = [
    # variant, env, the container port, the one listening socket, a line LOG_LEVEL=WARNING must hide
    pytest.param(FASTAPI, {"PORT": "8000"}, 8000, "0.0.0.0:8000", "Application startup complete",
                 id="fastapi-uvicorn-PORT"),
    pytest.param(FLASK, {"BIND": "0.0.0.0:8080", "PORT": "8000"}, 8080, "0.0.0.0:8080", "Booting worker",
                 id="flask-BIND"),
    pytest.param(BASE_WSGI, {"BIND": "0.0.0.0:8080"}, 8080, "0.0.0.0:8080", "Booting worker", id="base-wsgi-BIND"),
    pytest.param(BASE_ASGI, {"HOST": "0.0.0.0", "PORT": "8000"}, 8000, "0.0.0.0:8000", "Booting worker",
                 id="base-asgi-HOST-PORT"),
]


@pytest.mark.parametrize("variant,env,port,socket_address,hidden", RELOAD_CASES)
def test_start_reload_serves_and_picks_up_a_changed_file(
    variant: Variant, env: dict[str, str], port: int, socket_address: str, hidden: str
) -> None:
    ref = user_image(variant.image, variant.app, RELOAD_PRESTART)
    env = {**env, "LOG_LEVEL": "WARNING", "PRE_START_PATH": "/opt/reload-prestart.sh"}
    with run_container(ref, env=env, port=port, command=["/start-reload.sh"]) as server:
        answer = server.wait_http("/", timeout=60).json()
        assert answer["message"] == "original", explain(server, f"expected the original app to answer, got {answer}")
        sockets = listening(server)
        assert sockets == [socket_address], explain(
            server, f"with {env} expected to listen on {socket_address} only, listening on {sockets}")
        prestart_env = app_env(server, "FROM_PRESTART")
        assert prestart_env == {"FROM_PRESTART": "reload"}, explain(
            server, f"expected the prestart's export in the app, got {prestart_env}")
        assert hidden not in server.logs(), explain(server, f"LOG_LEVEL=WARNING but {hidden!r} was logged")

        status, output = server.exec(["sed", "-i", 's/^MESSAGE = "original"/MESSAGE = "changed"/', "/app/main.py"])
        assert status == 0, explain(server, f"could not change /app/main.py: {output}")
        poll(lambda: answering_message(server) == "changed", 30, "the changed /app/main.py to answer", server)


RELOAD_DIRS_EXTRA = "RUN mkdir -p /opt/lib && printf 'VALUE = 1\\n' > /opt/lib/extra.py\n"


@pytest.mark.parametrize("variant", [
    pytest.param(FASTAPI, id="fastapi-uvicorn"),
    pytest.param(BASE_WSGI, id="base-wsgi"),
])
def test_start_reload_also_watches_reload_dirs(variant: Variant) -> None:
    ref = user_image(variant.image, variant.app, RELOAD_DIRS_EXTRA)
    with run_container(ref, env={"RELOAD_DIRS": "/opt/lib"}, command=["/start-reload.sh"]) as server:
        first = server.wait_http("/", timeout=60).json()["pid"]
        status, output = server.exec(["sed", "-i", "s/VALUE = 1/VALUE = 2/", "/opt/lib/extra.py"])
        assert status == 0, explain(server, f"could not change /opt/lib/extra.py: {output}")
        poll(lambda: answering_pid(server) not in (first, None), 30,
             "a new server process after /opt/lib/extra.py changed (RELOAD_DIRS=/opt/lib)", server)


# --- stop and start again ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_stop_exits_cleanly_and_start_serves_again(variant: Variant) -> None:
    with run_container(variant.ref) as server:
        server.wait_http("/", timeout=60)
        # Stop a server that is up, not one whose second worker is still booting.
        deadline = time.monotonic() + 30
        while count(server.logs(), "Booting worker with pid") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        server.container.stop(timeout=20)
        code = server.wait_exit(timeout=5)
        assert code == 0, explain(server, f"expected exit status 0 after `docker stop` (SIGTERM), got {code}")

        server.start()
        server.wait_http("/", timeout=60)
        logs = server.logs()  # both runs' lines
        for text in ("Checking for script in /app/prestart.sh", "Starting gunicorn"):
            assert count(logs, text) == 2, explain(server, f"expected {text!r} once per start (2): {count(logs, text)}")
        assert using_worker(logs) == [variant.worker] * 2, explain(
            server, f"expected `Using worker: {variant.worker}` once per start (2)")
        assert len(settings_lines(logs)) == 2, explain(server, "expected one settings line per start (2)")
