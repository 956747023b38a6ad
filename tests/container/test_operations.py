"""Running under an orchestrator (SPEC §6): who serves requests, what signals do, what a crash costs,
health and metrics. Each behaviour is checked on a WSGI and an ASGI image, and on Meinheld (org/flask).

Fixture apps: tests/apps/ops_wsgi and tests/apps/ops_asgi (same endpoints: `/` names the answering
process and its uid, `/slow?s=N` sleeps, `/sqlite` writes /app/ops.sqlite3, `/metrics`).
The helpers here (process listing, bounded request loops, downstream builds) are shared with
test_ops_orchestration.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import machine  # tools/, on sys.path through conftest
import pytest
import requests
from docker_support import (
    APPS,
    build_app_image,
    default_worker,
    docker_client,
    family_ids,
    project,
    require_image,
    run_container,
)
from docker.errors import APIError, BuildError

# flavour (an image of versions.json with a kind of app it serves) -> (image, kind of app)
FAMILY: dict[str, tuple[str, str]] = {flavour: (image, kind) for flavour, image, kind in family_ids()}
# flavour -> (image, fixture app, environment): 2 workers (gthread gets its default 4 threads each)
FLAVOURS: dict[str, tuple[str, str, dict[str, str]]] = {
    flavour: (image, f"ops_{kind}", {"WEB_CONCURRENCY": "2"}) for flavour, (image, kind) in FAMILY.items()
}
# Every image of the family: what org/base promises holds on each child.
EVERY_FLAVOUR = list(FLAVOURS)
# One WSGI and one ASGI image, for the slower checks whose mechanism is the image layer's, not the worker's.
WSGI_AND_ASGI = ["base-wsgi", "fastapi"]


def in_flight_for(flavour: str) -> int:
    """Requests that can be in flight at once with the environment above: Meinheld serves one blocking request
    per worker, the others at least 4 between their 2 workers."""
    return 2 if "meinheld" in default_worker(*FAMILY[flavour]).logged else 4


PROMETHEUS_CLIENT = "prometheus-client==0.26.0"
DOWNSTREAM_APT_PACKAGE = "jq"

# Run inside a container: every process with its parent, uid, state and where its open files point,
# and the paths of the unix sockets. Needs only the image's Python, so it works on a read-only root too.
PROCESS_LISTING = r"""
import json, os
me = os.getpid()
processes = []
for name in os.listdir("/proc"):
    if not name.isdigit() or int(name) == me:
        continue
    try:
        with open(f"/proc/{name}/status") as handle:
            status = dict(line.split(":", 1) for line in handle.read().splitlines() if ":" in line)
        with open(f"/proc/{name}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        continue
    files = []
    try:
        for fd in os.listdir(f"/proc/{name}/fd"):
            try:
                files.append(os.readlink(f"/proc/{name}/fd/{fd}"))
            except OSError:
                pass
    except OSError:
        pass
    processes.append({"pid": int(name), "ppid": int(status["PPid"].strip()), "uid": int(status["Uid"].split()[0]),
                      "gid": int(status["Gid"].split()[0]), "state": status["State"].split()[0],
                      "name": status["Name"].strip(), "cmd": command, "files": files})
with open("/proc/net/unix") as handle:
    sockets = [line.split()[7] for line in handle.read().splitlines()[1:] if len(line.split()) > 7]
print(json.dumps({"processes": processes, "unix_sockets": sockets}))
"""


# --- images --------------------------------------------------------------------------------------------

_built: dict[tuple[str, str], str] = {}


def app_image(flavour: str, dockerfile_extra: str = "") -> str:
    """The flavour's fixture app on its image (`FROM image` + `COPY . /app`), built once per session."""
    image, app, _ = FLAVOURS[flavour]
    key = (flavour, dockerfile_extra)
    if key not in _built:
        _built[key] = build_app_image(require_image(image), app, dockerfile_extra)
    return _built[key]


def build_downstream(base_ref: str, app: str | None, run_lines: str) -> str:
    """`FROM base_ref`, the app (tests/apps/<app>, if any) in /app, then `run_lines` as a user's Dockerfile has them.

    The machine's pip settings (tools/machine.py: index and CA bundle) are copied to /tmp/pip-net like
    the project's own builder stages do; a RUN that installs with pip sets PIP_CONFIG_FILE to use them.
    """
    with tempfile.TemporaryDirectory(prefix="ops-build-") as directory:
        context = Path(directory)
        copy_app = ""
        if app is not None:
            shutil.copytree(APPS / app, context / "app", ignore=shutil.ignore_patterns("__pycache__"))
            copy_app = "COPY app/ /app/\n"
        shutil.copytree(machine.write_pip_context(), context / "pip-net")
        dockerfile = f"FROM {base_ref}\n{copy_app}COPY pip-net/ {machine.PIP_CONTEXT_IN_BUILD}/\n{run_lines}\n"
        (context / "Dockerfile").write_text(dockerfile)
        digest = hashlib.sha256(dockerfile.encode()).hexdigest()[:10]
        tag = f"test-app/ops-downstream:{(app or 'no-app').replace('/', '-')}-{base_ref.replace('/', '-').replace(':', '-')}-{digest}"
        try:
            docker_client().images.build(path=str(context), tag=tag, rm=True, forcerm=True)
        except (BuildError, APIError) as error:  # BuildError carries the build log
            log = "".join(str(chunk.get("stream", chunk)) for chunk in getattr(error, "build_log", []))
            pytest.fail(f"downstream build of {app} on {base_ref} failed: {error}\n{log[-3000:]}")
    return tag


PIP_INSTALL = f"PIP_CONFIG_FILE={machine.PIP_CONTEXT_IN_BUILD}/pip.conf pip install"
DOWNSTREAM_RUN_LINES = (
    f"RUN apt-get update && apt-get install -y --no-install-recommends {DOWNSTREAM_APT_PACKAGE}"
    " && rm -rf /var/lib/apt/lists/*\n"
    f"RUN {PIP_INSTALL} {PROMETHEUS_CLIENT} && rm -rf {machine.PIP_CONTEXT_IN_BUILD}"
)


def downstream_image(flavour: str) -> str:
    """The flavour's fixture app in a user's Dockerfile that apt-get installs jq and pip installs
    prometheus-client (the metrics tests use the latter)."""
    image, app, _ = FLAVOURS[flavour]
    key = (flavour, "downstream")
    if key not in _built:
        _built[key] = build_downstream(require_image(image), app, DOWNSTREAM_RUN_LINES)
    return _built[key]


# --- looking inside a container ------------------------------------------------------------------------


def processes(server) -> dict:
    """Every process in the container. The open files of a worker that switched user are listed only in
    a container started with cap_add=["SYS_PTRACE"]."""
    code, output = server.exec(["python", "-c", PROCESS_LISTING], user="0")
    assert code == 0, f"listing processes failed ({code}): {output}\n{server.tail()}"
    return json.loads(output)


def gunicorn_workers(listing: dict) -> list[dict]:
    """The master's (PID 1) live children that run Gunicorn."""
    return [p for p in listing["processes"] if p["ppid"] == 1 and "gunicorn" in p["cmd"] and p["state"] != "Z"]


def worker_pids(server) -> set[int]:
    return {p["pid"] for p in gunicorn_workers(processes(server))}


def booted_workers(server, count: int = 2) -> set[int]:
    """The worker pids once `count` run (the first answer can come before the last worker has booted)."""
    pids = poll(workers_when(server, lambda pids: len(pids) == count), timeout=15, interval=0.1)
    assert pids, f"expected {count} workers within 15 s, got {worker_pids(server)}\n{server.tail()}"
    return pids  # type: ignore[return-value]


def workers_when(server, condition: Callable[[set[int]], bool]) -> Callable[[], set[int] | None]:
    """For poll(): the worker pids once they satisfy `condition`, else None."""

    def check() -> set[int] | None:
        pids = worker_pids(server)
        return pids if condition(pids) else None

    return check


def poll(condition: Callable[[], object], timeout: float, interval: float = 0.2) -> object:
    """condition()'s first truthy value within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def startup_settings(server) -> dict:
    """The startup JSON line (SPEC §5)."""
    for line in server.logs().splitlines():
        if line.startswith("{") and '"workers"' in line:
            return json.loads(line)
    pytest.fail(f"no settings JSON line in the logs:\n{server.tail()}")


def health(container) -> dict:
    container.reload()
    return container.attrs["State"].get("Health") or {}


# --- bounded request loops -----------------------------------------------------------------------------


@dataclass
class Outcome:
    at: float
    ok: bool
    pid: int | None = None
    detail: str = ""


@dataclass
class Load:
    """Clients sending GET `url` in a loop, each on a new connection, until stopped or a bound is hit."""

    url: str
    concurrency: int = 2
    max_seconds: float = 60.0
    max_requests: int = 5000
    timeout: float = 10.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _sent: int = 0

    def start(self) -> Load:
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.concurrency):
            thread = threading.Thread(target=self._client, args=(deadline,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _client(self, deadline: float) -> None:
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                if self._sent >= self.max_requests:
                    return
                self._sent += 1
            try:
                response = requests.get(self.url, timeout=self.timeout, headers={"Connection": "close"})
                if response.status_code == 200:
                    outcome = Outcome(time.monotonic(), True, response.json().get("pid"))
                else:
                    outcome = Outcome(
                        time.monotonic(), False, detail=f"HTTP {response.status_code}: {response.text[:80]}"
                    )
            except requests.RequestException as error:
                outcome = Outcome(time.monotonic(), False, detail=f"{type(error).__name__}: {error}"[:200])
            with self._lock:
                self.outcomes.append(outcome)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def finish(self) -> Load:
        """Wait until the clients reach max_requests or max_seconds."""
        for thread in self._threads:
            thread.join(self.max_seconds + self.timeout + 5)
        return self

    def stop(self) -> Load:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        return self

    def served_by(self) -> set[int]:
        with self._lock:
            return {o.pid for o in self.outcomes if o.ok}

    def successes(self, since: float = 0.0, pids: set[int] | None = None) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.ok and o.at >= since and (pids is None or o.pid in pids))

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def summary(self) -> str:
        total = len(self.outcomes)
        failed = len(self.failures)
        rate = 100.0 * (total - failed) / total if total else 0.0
        details = "; ".join(sorted({o.detail for o in self.failures}))[:500]
        return f"{total - failed}/{total} succeeded ({rate:.2f}%)" + (f", failures: {details}" if failed else "")


def recycle_workers(server, workers_seen: int = 12) -> Load:
    """Send requests one at a time until `workers_seen` different workers have answered (MAX_REQUESTS). Gunicorn's
    asgi worker looks at its limit about once a second, so it may serve a few hundred more before it goes."""
    load = Load(server.url + "/", concurrency=1, max_seconds=45, max_requests=10_000).start()
    try:
        poll(lambda: len(load.served_by()) >= workers_seen or not load.running, timeout=40)
    finally:
        load.stop()
    assert len(load.served_by()) >= workers_seen, (
        f"expected {workers_seen} workers to have served, got {load.served_by()}; {load.summary()}\n{server.tail()}"
    )
    return load


def report(line: str) -> None:
    """A measured number, shown with `pytest -s` (and in -ra summaries through the assert messages)."""
    print(f"\n[measured] {line}", flush=True)


# === 1. privileges =============================================================================================


@pytest.mark.parametrize("flavour", EVERY_FLAVOUR)
def test_workers_do_not_run_as_root_and_port_80_still_works(flavour: str) -> None:
    env = FLAVOURS[flavour][2]
    with run_container(app_image(flavour), env=env, port=80) as server:  # as `docker run -p 80:80`
        answer = server.wait_http("/").json()
        booted_workers(server)
        listing = processes(server)
        workers = gunicorn_workers(listing)
        master = next(p for p in listing["processes"] if p["pid"] == 1)
        assert "gunicorn" in master["cmd"], f"expected Gunicorn as PID 1, got {master['cmd']!r}\n{server.tail()}"
        assert len(workers) == 2, f"expected 2 workers, got {workers}\n{server.tail()}"
        assert all(w["uid"] != 0 for w in workers), (
            f"expected workers not to run as root, got uids {[w['uid'] for w in workers]}\n{server.tail()}"
        )
        assert answer["uid"] != 0, f"expected the app to run as non-root, got {answer}"
        assert startup_settings(server)["bind"] == "0.0.0.0:80"


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_heartbeat_is_on_tmpfs_and_there_is_no_control_socket(flavour: str) -> None:
    # SYS_PTRACE only lets the test read the workers' open files (they switched user, so are not dumpable).
    with run_container(app_image(flavour), env=FLAVOURS[flavour][2], cap_add=["SYS_PTRACE"]) as server:
        server.wait_http("/")
        booted_workers(server)
        listing = processes(server)
        for worker in gunicorn_workers(listing):
            heartbeats = [f for f in worker["files"] if "gunicorn" in f.lower() and f.startswith("/")]
            assert heartbeats and all(f.startswith("/dev/shm/") for f in heartbeats), (
                f"expected the worker's heartbeat file under /dev/shm, got {worker['files']}\n{server.tail()}"
            )
        control = [s for s in listing["unix_sockets"] if "gunicorn" in s]
        assert control == [], f"expected no Gunicorn control socket, got {control}\n{server.tail()}"


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_arbitrary_uid_in_group_root_serves_and_writes_sqlite_in_app(flavour: str) -> None:
    with run_container(app_image(flavour), env=FLAVOURS[flavour][2], user="12345:0") as server:
        server.wait_http("/")
        uids = {p["uid"] for p in processes(server)["processes"] if "gunicorn" in p["cmd"]}
        assert uids == {12345}, f"expected every Gunicorn process as uid 12345, got {uids}\n{server.tail()}"
        response = requests.get(server.url + "/sqlite", timeout=10)
        assert response.status_code == 200, (
            f"expected /sqlite to write /app/ops.sqlite3, got {response.status_code}: {response.text}\n{server.tail()}"
        )
        assert response.json()["uid"] == 12345


@pytest.mark.parametrize("flavour", EVERY_FLAVOUR)
def test_default_user_app_writes_sqlite_in_app(flavour: str) -> None:
    with run_container(app_image(flavour), env=FLAVOURS[flavour][2]) as server:
        server.wait_http("/")
        rows = [requests.get(server.url + "/sqlite", timeout=10) for _ in range(2)]
        assert [r.status_code for r in rows] == [200, 200], (
            f"expected /sqlite to work twice, got {[r.text for r in rows]}\n{server.tail()}"
        )
        assert rows[-1].json()["rows"] == 2


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_read_only_root_with_tmpfs_tmp_serves_and_is_healthy(flavour: str) -> None:
    with run_container(app_image(flavour), env=FLAVOURS[flavour][2], read_only=True, tmpfs={"/tmp": ""}) as server:
        response = server.wait_http("/")
        assert response.status_code == 200, f"expected 200, got {response.status_code}\n{server.tail()}"
        code, output = server.exec(["python", "-m", "gunicorn_image.healthcheck"])
        assert code == 0, f"expected the healthcheck to pass on a read-only root, got {code}: {output}\n{server.tail()}"
        booted_workers(server)


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_downstream_dockerfile_can_apt_get_and_pip_install(flavour: str) -> None:
    ref = downstream_image(flavour)
    with run_container(ref, env=FLAVOURS[flavour][2]) as server:
        server.wait_http("/")
        code, output = server.exec([DOWNSTREAM_APT_PACKAGE, "--version"])
        assert code == 0, f"expected the apt-installed {DOWNSTREAM_APT_PACKAGE} to run, got {code}: {output}"
        code, output = server.exec(
            ["python", "-c", "import prometheus_client; print(prometheus_client.__file__)"], user="app"
        )
        assert code == 0 and "/opt/venv/" in output, (
            f"expected the pip-installed package in /opt/venv, readable by the workers' user, got {code}: {output}"
        )
        assert all(w["uid"] != 0 for w in gunicorn_workers(processes(server))), server.tail()


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_run_as_root_switch_serves_as_root(flavour: str) -> None:
    with run_container(app_image(flavour), env={**FLAVOURS[flavour][2], "RUN_AS_ROOT": "1"}) as server:
        answer = server.wait_http("/").json()
        uids = {w["uid"] for w in gunicorn_workers(processes(server))}
        assert uids == {0} and answer["uid"] == 0, (
            f"expected RUN_AS_ROOT=1 workers as root, got {uids}, {answer}\n{server.tail()}"
        )


# === 2. signals ===============================================================================================


@pytest.mark.parametrize("flavour", EVERY_FLAVOUR)
def test_docker_stop_lets_in_flight_requests_finish_and_exits_0(flavour: str, docker) -> None:
    ref = app_image(flavour)
    stop_signal = docker.images.get(ref).attrs["Config"].get("StopSignal")
    assert stop_signal in (None, "", "SIGTERM", "15"), f"expected docker stop to send SIGTERM, image says {stop_signal}"
    in_flight = in_flight_for(flavour)
    with run_container(ref, env=FLAVOURS[flavour][2]) as server:
        server.wait_http("/")
        results: list[str] = []

        def slow_request() -> None:
            try:
                response = requests.get(server.url + "/slow?s=2", timeout=30, headers={"Connection": "close"})
                results.append(str(response.status_code))
            except requests.RequestException as error:
                results.append(f"{type(error).__name__}: {error}")

        clients = [threading.Thread(target=slow_request) for _ in range(in_flight)]
        for client in clients:
            client.start()
        started = poll(lambda: server.logs().count("slow request started") >= in_flight, timeout=15)
        assert started, (
            f"expected {in_flight} slow requests in flight, saw {server.logs().count('slow request started')}\n"
            f"{server.tail()}"
        )
        began = time.monotonic()
        stopper = threading.Thread(target=server.container.stop, kwargs={"timeout": 30})  # = docker stop -t 30
        stopper.start()
        for client in clients:
            client.join(40)
        stopper.join(40)
        status = server.wait_exit(30)
        took = time.monotonic() - began
        completed = results.count("200")
        report(
            f"{flavour}: docker stop with {in_flight} requests in flight: {completed}/{in_flight} completed with 200, "
            f"exit status {status} after {took:.1f}s"
        )
        assert completed == in_flight, (
            f"expected all {in_flight} in-flight requests to get 200, got {results}\n{server.tail()}"
        )
        assert status == 0, f"expected exit status 0 after SIGTERM, got {status}\n{server.tail()}"
        assert took < 25, f"expected the drain to end soon after the 2 s requests, took {took:.1f}s\n{server.tail()}"


@pytest.mark.parametrize(
    "flavour",
    EVERY_FLAVOUR,
)
def test_sighup_replaces_workers_without_failing_a_request(flavour: str) -> None:
    with run_container(app_image(flavour), env=FLAVOURS[flavour][2]) as server:
        server.wait_http("/")
        old = booted_workers(server)
        load = Load(server.url + "/", concurrency=2, max_seconds=60, max_requests=20000).start()
        try:
            assert poll(lambda: load.successes() >= 20, timeout=15), (
                f"no traffic before HUP: {load.summary()}\n{server.tail()}"
            )
            hup_at = time.monotonic()
            server.container.kill(signal="SIGHUP")
            new = poll(workers_when(server, lambda pids: len(pids) == 2 and not pids & old), timeout=30, interval=0.3)
            assert new, f"expected 2 new workers after SIGHUP (old {old}), got {worker_pids(server)}\n{server.tail()}"
            served_by_new = poll(lambda: load.successes(pids=new) >= 20, timeout=15)
        finally:
            load.stop()
        report(
            f"{flavour}: SIGHUP under load: {load.summary()}; {load.successes(since=hup_at)} after the HUP, "
            f"workers {sorted(old)} -> {sorted(new)}"
        )
        assert served_by_new, f"expected the new workers {new} to serve, {load.summary()}\n{server.tail()}"
        assert not load.failures, f"expected no failed request during SIGHUP, got {load.summary()}\n{server.tail()}"


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
@pytest.mark.parametrize(
    "script",
    [
        "orphans_early.sh",
        "orphans_late.sh",
    ],
)
def test_orphans_left_by_prestart_are_reaped(flavour: str, script: str) -> None:
    """tests/apps/ops_*/orphans_*.sh leave sleepers behind that end before the server starts (early) or
    while it serves (late); once they have ended, no zombie may stay."""
    with run_container(app_image(flavour), env={**FLAVOURS[flavour][2], "PRE_START_PATH": script}) as server:
        server.wait_http("/")
        assert "orphans started" in server.logs(), server.tail()

        def sleepers_done() -> dict | None:
            listing = processes(server)
            alive = [p for p in listing["processes"] if p["name"] == "sleep" and p["state"] != "Z"]
            return None if alive else listing

        assert poll(sleepers_done, timeout=20, interval=0.5), f"the prestart's sleepers never ended\n{server.tail()}"
        zombies: list = []

        def no_zombies() -> bool:
            zombies[:] = [p for p in processes(server)["processes"] if p["state"] == "Z"]
            return not zombies

        assert poll(no_zombies, timeout=5, interval=0.5), (
            f"expected no zombie processes, got {zombies}\n{server.tail()}"
        )


# === 3. crashes ===============================================================================================


@pytest.mark.parametrize(
    "flavour",
    EVERY_FLAVOUR,
)
def test_killed_worker_is_replaced_while_the_other_keeps_serving(flavour: str) -> None:
    concurrency = 2
    with run_container(app_image(flavour), env=FLAVOURS[flavour][2]) as server:
        server.wait_http("/")
        before = booted_workers(server)
        victim, survivor = sorted(before)
        load = Load(server.url + "/", concurrency=concurrency, max_seconds=60, max_requests=20000).start()
        try:
            assert poll(lambda: load.successes() >= 20, timeout=15), (
                f"no traffic before the kill: {load.summary()}\n{server.tail()}"
            )
            code, output = server.exec(["python", "-c", f"import os; os.kill({victim}, 9)"])
            assert code == 0, f"SIGKILL to worker {victim} failed: {output}"
            killed_at = time.monotonic()
            replaced = poll(
                workers_when(server, lambda pids: len(pids) == 2 and victim not in pids), timeout=15, interval=0.1
            )
            replaced_after = time.monotonic() - killed_at
            assert replaced, (
                f"expected a new worker within 15 s of killing {victim}, got {worker_pids(server)}\n{server.tail()}"
            )
            newcomer = next(iter(replaced - before))
            poll(lambda: load.successes(since=killed_at, pids={newcomer}) >= 10, timeout=10)
        finally:
            load.stop()
        report(f"{flavour}: worker {victim} SIGKILLed under load: replaced in {replaced_after:.1f}s; {load.summary()}")
        assert replaced_after < 10, (
            f"expected the worker replaced within 10 s, took {replaced_after:.1f}s\n{server.tail()}"
        )
        assert load.successes(since=killed_at, pids={survivor}) > 0, (
            f"expected worker {survivor} to keep serving after the kill; {load.summary()}\n{server.tail()}"
        )
        assert load.successes(since=killed_at, pids={newcomer}) > 0, (
            f"expected the new worker {newcomer} to serve; {load.summary()}\n{server.tail()}"
        )
        # At most the requests the killed worker had in flight can fail: one per client.
        assert len(load.failures) <= concurrency, (
            f"expected at most {concurrency} failures, got {load.summary()}\n{server.tail()}"
        )


@pytest.mark.parametrize(
    "flavour",
    EVERY_FLAVOUR,
)
def test_max_requests_recycles_workers_without_failing_a_request(flavour: str) -> None:
    env = {**FLAVOURS[flavour][2], "MAX_REQUESTS": "10", "MAX_REQUESTS_JITTER": "0"}
    with run_container(app_image(flavour), env=env) as server:
        server.wait_http("/")
        load = recycle_workers(server)
        report(f"{flavour}: MAX_REQUESTS=10 through {len(load.served_by())} workers: {load.summary()}")
        assert not load.failures, (
            f"expected no failed request while workers recycle, got {load.summary()}\n{server.tail()}"
        )


# === 4. health ================================================================================================

DECLARED_HEALTHCHECK = ["CMD", "python", "-m", "gunicorn_image.healthcheck"]


@pytest.mark.parametrize("image", project.IMAGES)
def test_every_image_declares_a_healthcheck_that_needs_no_curl(image: str, docker) -> None:
    ref = require_image(image)
    declared = docker.images.get(ref).attrs["Config"].get("Healthcheck") or {}
    assert declared.get("Test") == DECLARED_HEALTHCHECK, (
        f"expected {ref} to declare {DECLARED_HEALTHCHECK}, got {declared}"
    )
    assert declared.get("Interval", 0) > 0 and declared.get("Timeout", 0) > 0, (
        f"expected interval and timeout set: {declared}"
    )
    output = docker.containers.run(ref, ["sh", "-c", "command -v curl wget || echo neither"], remove=True).decode()
    assert output.strip() == "neither", f"expected no curl/wget in {ref}, found {output.strip()}"


@pytest.mark.parametrize("flavour", EVERY_FLAVOUR)
def test_container_turns_healthy_and_stays_healthy_under_load(flavour: str, docker) -> None:
    ref = app_image(flavour)
    declared = docker.images.get(ref).attrs["Config"]["Healthcheck"]
    # The image's own check and timeout, asked every second instead of every 10 s so the test is short.
    faster = {
        "test": declared["Test"],
        "interval": 1_000_000_000,
        "timeout": declared["Timeout"],
        "retries": declared["Retries"],
    }
    with run_container(ref, env=FLAVOURS[flavour][2], healthcheck=faster) as server:
        became = poll(lambda: health(server.container).get("Status") == "healthy", timeout=30, interval=0.5)
        assert became, f"expected healthy within 30 s, got {health(server.container)}\n{server.tail()}"
        checks: dict[str, int] = {}
        statuses: Counter = Counter()
        load = Load(server.url + "/", concurrency=8, max_seconds=15, max_requests=50000).start()
        try:
            while load.running:
                state = health(server.container)
                statuses[state.get("Status")] += 1
                for entry in state.get("Log") or []:
                    checks[entry["Start"]] = entry["ExitCode"]
                time.sleep(0.5)
        finally:
            load.stop()
        failed_checks = [start for start, code in checks.items() if code != 0]
        report(
            f"{flavour}: 15 s at 8 concurrent clients: {load.summary()} "
            f"({len(load.outcomes) / 15:.0f} req/s); {len(checks)} health checks, {len(failed_checks)} failed"
        )
        assert set(statuses) == {"healthy"}, f"expected healthy throughout, got {dict(statuses)}\n{server.tail()}"
        # A check is a new Python process: under this load on 2 cores one takes 1-2 s, so 5+ in 15 s.
        assert not failed_checks and len(checks) >= 5, f"expected >= 5 passing checks, got {checks}\n{server.tail()}"
        assert not load.failures, load.summary()


# === 5. metrics ===============================================================================================

METRICS_DIR = "/tmp/metrics"
# As a Kubernetes emptyDir or a compose tmpfs would provide it (the first test checks a missing one).
METRICS_TMPFS = {METRICS_DIR: ""}
NO_HEALTHCHECK = {"test": ["NONE"]}  # its GET / would add to the counts


def requests_total(metrics_text: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith("ops_requests_total "):
            return float(line.split()[1])
    raise AssertionError(f"no ops_requests_total in /metrics:\n{metrics_text[:1000]}")


def metrics_files(server) -> list[str]:
    code, output = server.exec(["ls", "-1", METRICS_DIR])
    assert code == 0, f"cannot list {METRICS_DIR}: {output}\n{server.tail()}"
    return output.split()


def files_of_dead_workers(server) -> list[str]:
    """Files in METRICS_DIR named for a process id that is no longer a worker (counter_<pid>.db, ...)."""
    live = worker_pids(server)
    named = [(name, name.rsplit("_", 1)[-1].removesuffix(".db")) for name in metrics_files(server)]
    return [name for name, pid in named if pid.isdigit() and int(pid) not in live]


@pytest.mark.parametrize(
    "flavour",
    WSGI_AND_ASGI,
)
def test_metrics_directory_is_made_at_start_when_missing(flavour: str) -> None:
    env = {**FLAVOURS[flavour][2], "PROMETHEUS_MULTIPROC_DIR": METRICS_DIR}
    with run_container(downstream_image(flavour), env=env, healthcheck=NO_HEALTHCHECK) as server:
        response = server.wait_http("/metrics")
        assert response.status_code == 200 and "ops_requests_total" in response.text, (
            f"expected /metrics with ops_requests_total, got {response.status_code}: {response.text[:300]}\n"
            f"{server.tail()}"
        )


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_metrics_endpoint_adds_up_counters_from_every_worker(flavour: str) -> None:
    env = {**FLAVOURS[flavour][2], "PROMETHEUS_MULTIPROC_DIR": METRICS_DIR}
    with run_container(downstream_image(flavour), env=env, healthcheck=NO_HEALTHCHECK, tmpfs=METRICS_TMPFS) as server:
        server.wait_http("/metrics")
        load = Load(server.url + "/slow?s=0.05", concurrency=4, max_seconds=30, max_requests=60).start().finish()
        assert not load.failures and len(load.outcomes) == 60, load.summary()
        served_by = load.served_by()
        assert len(served_by) == 2, f"expected both workers to serve, got pids {served_by}\n{server.tail()}"
        totals = []
        for _ in range(6):  # whichever worker answers /metrics, it reports everybody's requests
            response = requests.get(server.url + "/metrics", timeout=10)
            assert response.status_code == 200, (
                f"/metrics gave {response.status_code}: {response.text[:300]}\n{server.tail()}"
            )
            totals.append(requests_total(response.text))
        report(f"{flavour}: 60 requests served by workers {sorted(served_by)}; /metrics said {totals}")
        assert set(totals) == {60.0}, f"expected ops_requests_total 60 from every worker, got {totals}\n{server.tail()}"


RECYCLING = {"PROMETHEUS_MULTIPROC_DIR": METRICS_DIR, "MAX_REQUESTS": "10", "MAX_REQUESTS_JITTER": "0"}


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_metrics_keep_the_counts_of_recycled_workers(flavour: str) -> None:
    env = {**FLAVOURS[flavour][2], **RECYCLING}
    with run_container(downstream_image(flavour), env=env, healthcheck=NO_HEALTHCHECK, tmpfs=METRICS_TMPFS) as server:
        server.wait_http("/metrics")
        load = recycle_workers(server)
        total = requests_total(requests.get(server.url + "/metrics", timeout=10).text)
        report(
            f"{flavour}: MAX_REQUESTS=10, {len(load.served_by())} workers: {load.summary()}; ops_requests_total {total}"
        )
        assert total == load.successes(), (
            f"expected ops_requests_total {load.successes()}, got {total}\n{server.tail()}"
        )


@pytest.mark.parametrize("flavour", WSGI_AND_ASGI)
def test_metrics_directory_stays_bounded_when_workers_are_recycled(flavour: str) -> None:
    env = {**FLAVOURS[flavour][2], **RECYCLING}
    with run_container(downstream_image(flavour), env=env, healthcheck=NO_HEALTHCHECK, tmpfs=METRICS_TMPFS) as server:
        server.wait_http("/metrics")
        load = recycle_workers(server)
        leftovers: list[str] = []

        def no_dead_workers_files() -> bool:
            leftovers[:] = files_of_dead_workers(server)
            return not leftovers

        bounded = poll(no_dead_workers_files, timeout=5, interval=0.5)
        files = metrics_files(server)
        report(
            f"{flavour}: after {len(load.served_by())} workers (MAX_REQUESTS=10) {METRICS_DIR} holds {len(files)} "
            f"files, {len(leftovers)} of them of dead workers"
        )
        assert bounded, (
            f"expected no files of dead workers in {METRICS_DIR} (it grows with every recycled worker), "
            f"got {len(leftovers)}: {leftovers}\n{server.tail()}"
        )
