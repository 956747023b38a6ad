"""One server in a fresh container: from `docker run` to its first 200 (cold start), its idle memory (PSS),
then wrk runs, each with the CPU used outside the benchmark meanwhile. The container is published on
127.0.0.1 only and always removed."""

from __future__ import annotations

import dataclasses
import http.client
import socket
import time

import docker

import host
from load import LOOPBACK, Address, LoadError, run_wrk
from plan import CONTAINER_PORT, ENDPOINTS, HELLO, Endpoint, Server, Settings, cell_key
from results import DOCKER_STATS, PSS, CaseRun, is_dropped

POLL_INTERVAL_S = 0.01
STATUS_CHECK_INTERVAL_S = 0.5  # how often to ask Docker whether the container died while we poll
LOG_TAIL = 15


class ServerFailed(Exception):
    """The server did not start or did not answer as the bench app does; the message says how."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1 to publish the container on."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def memory_in_use(stats: dict) -> int | None:
    """The figure `docker stats` shows: the cgroup's memory use minus inactive file cache (v1 or v2)."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None
    details = memory.get("stats") or {}
    inactive = details.get("total_inactive_file", details.get("inactive_file", 0))
    return int(usage - inactive if inactive < usage else usage)


def pids_from_top(top: dict) -> list[int]:
    """The host's process ids from what `docker top <container> -eo pid` answers."""
    column = [title.strip().upper() for title in top.get("Titles") or []].index("PID")
    return [int(row[column]) for row in top.get("Processes") or []]


def fetch(port: int, path: str, timeout_s: float = 1.0) -> tuple[int, str]:
    """One GET on a new connection: (status, body)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def wait_for_first_200(container: docker.models.containers.Container, port: int, started: float,
                       timeout_s: float) -> float:
    """Poll / until it answers 200; returns the seconds since `started`. Fails fast when the container exits."""
    next_status_check = 0.0
    while True:
        try:
            status, _ = fetch(port, HELLO.path)
            if status == 200:
                return time.monotonic() - started
        except (OSError, http.client.HTTPException):
            pass  # not listening yet (Docker's port proxy accepts, then drops the connection)
        now = time.monotonic()
        if now - started > timeout_s:
            raise ServerFailed(f"no 200 on / within {timeout_s:.0f}s")
        if now >= next_status_check:
            container.reload()
            if container.status in ("exited", "dead"):
                code = container.attrs["State"].get("ExitCode")
                raise ServerFailed(f"the container exited (status {code}) before answering")
            next_status_check = now + STATUS_CHECK_INTERVAL_S
        time.sleep(POLL_INTERVAL_S)


def check_endpoints(port: int, endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> None:
    """Each endpoint answers 200 with the bench app's body, so we load the right app."""
    for endpoint in endpoints:
        status, body = fetch(port, endpoint.path, timeout_s=5)
        if status != 200 or not endpoint.accepts(body):
            raise ServerFailed(f"GET {endpoint.path} answered {status} {body[:200]!r}, not the bench app's "
                               f"{endpoint.body!r}")


class ServerRun:
    """One server of one round in a fresh container, as a context manager that always removes it.

    Entering starts it and measures its cold start (from `docker run` to the first 200 on the port
    published on 127.0.0.1, polled), checks that both endpoints answer with the bench app's bodies, and
    reads its idle memory once the other workers have had `settle_s` to boot. `measure` then runs wrk,
    either on that published port or, `in_netns`, on 127.0.0.1:80 inside the container's network
    namespace (see load.py). A failure is recorded in `case.failure`, never raised: the other servers
    of the round go on, and the run's exit status reports it.
    """

    def __init__(self, client: docker.DockerClient, image_ref: str, image: str, python: str, server: Server,
                 settings: Settings, round_no: int, run_id: str, in_netns: bool) -> None:
        self.client, self.image_ref, self.server, self.settings = client, image_ref, server, settings
        self.in_netns, self.run_id = in_netns, run_id
        self.case = CaseRun(image, server.key, round_no, python)
        self.name = f"bench-{run_id}-{image}-py{python}-{server.key}-r{round_no}"
        self.address: Address | None = None  # where wrk goes, once the server answers
        self.container_id = ""  # the full id: the name of its cgroup
        self.proxies: list[int] = []  # Docker's port proxy processes between wrk and the server, if any

    def __enter__(self) -> ServerRun:
        port = free_port()
        started = time.monotonic()
        try:
            container = self.client.containers.run(
                self.image_ref, list(self.server.command) if self.server.command else None, name=self.name,
                detach=True, environment=self.server.env, ports={f"{CONTAINER_PORT}/tcp": (LOOPBACK, port)},
                labels={"bench.run": self.run_id}, user=self.server.user,
                # The images' HEALTHCHECK starts a Python process every 10 s in every container; the idle
                # containers of a round would land it in other servers' wrk runs as CPU used outside.
                healthcheck={"test": ["NONE"]},
            )
            self.container_id = container.id
            self.case.cold_start_s = wait_for_first_200(container, port, started, self.settings.start_timeout_s)
            check_endpoints(port)
            time.sleep(self.settings.settle_s)
            self._read_memory(container)
            container.reload()  # the attributes `run` returned predate the start: no process id yet
            if self.in_netns:
                self.address = Address(CONTAINER_PORT, container.attrs["State"]["Pid"])
            else:
                self.address, self.proxies = Address(port), host.proxy_pids(port)
            if self.server.throughput:
                run_wrk(self.address, HELLO.path, max(self.settings.concurrencies), self.settings.warmup_s,
                        self.settings.wrk_threads)
        except (ServerFailed, LoadError, OSError, http.client.HTTPException, docker.errors.DockerException) as error:
            self._fail(error)
        except BaseException:  # interrupted before `with` owns the container: remove it here
            remove_container(self.client, self.name)
            raise
        return self

    def _read_memory(self, container: docker.models.containers.Container) -> None:
        """Idle memory: the PSS of every process in the container (what each really costs, shared pages
        split among their sharers); the `docker stats` figure when the processes cannot be read (not root)."""
        processes = None
        try:
            processes = host.process_memory(pids_from_top(container.top(ps_args="-eo pid")))
        except (docker.errors.DockerException, ValueError):
            pass
        if processes:
            self.case.processes = processes
            self.case.memory_bytes = sum(process.pss_bytes for process in processes)
            self.case.memory_source = PSS
        else:
            self.case.memory_bytes = memory_in_use(container.stats(stream=False, one_shot=True))
            self.case.memory_source = DOCKER_STATS

    def measure(self, endpoint: Endpoint, concurrency: int) -> None:
        """One wrk run, recorded under its cell with the CPU used outside it meanwhile, and marked dropped
        when that is above the limit; skipped once the server has failed, and for a server measured for
        cold start and memory only."""
        if self.address is None or self.case.failure or not self.server.throughput:
            return
        cell = cell_key(endpoint.name, concurrency)
        try:
            before = host.snapshot(self.container_id, self.proxies)
            load = run_wrk(self.address, endpoint.path, concurrency, self.settings.duration_s,
                           self.settings.wrk_threads)
            outside = host.outside_cores(before, host.snapshot(self.container_id, self.proxies))
        except (LoadError, OSError) as error:
            self._fail(error)
            return
        self.case.loads[cell] = dataclasses.replace(load, outside_cpu_cores=outside)
        if is_dropped(outside, self.settings.outside_cpu_limit):
            self.case.dropped.append(cell)

    def _fail(self, error: Exception) -> None:
        try:
            logs = self.client.containers.get(self.name).logs(tail=LOG_TAIL).decode(errors="replace").rstrip()
        except docker.errors.DockerException:
            logs = ""
        self.case.failure = f"{error}" + (f"\n--- last log lines of {self.name}:\n{logs}" if logs else "")
        self.address = None

    def __exit__(self, *exc_info: object) -> None:
        remove_container(self.client, self.name)


def remove_container(client: docker.DockerClient, name: str) -> None:
    """Remove a container of ours by its name, running or not, even one whose start failed half-way."""
    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass


def remove_run_containers(client: docker.DockerClient, run_id: str) -> None:
    """The last safety net: remove every container this run labelled, whatever interrupted it."""
    for container in client.containers.list(all=True, sparse=True, filters={"label": f"bench.run={run_id}"}):
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
