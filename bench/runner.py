"""One case: one server in a fresh container, from `docker run` to its first 200 (cold start), its idle
memory, then every wrk run. The container is published on 127.0.0.1 only and always removed."""

from __future__ import annotations

import http.client
import socket
import time

import docker

from load import LOOPBACK, Address, LoadError, run_wrk
from plan import CONTAINER_PORT, ENDPOINTS, HELLO, Endpoint, ImagePlan, Server, Settings, cell_key
from results import CaseRun

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


def fetch(port: int, path: str, timeout_s: float = 1.0) -> tuple[int, str]:
    """One GET on a new connection: (status, body)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def _log_tail(container: docker.models.containers.Container) -> str:
    try:
        return container.logs(tail=LOG_TAIL).decode(errors="replace").rstrip()
    except docker.errors.APIError:
        return "(no logs)"


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


def run_case(client: docker.DockerClient, image_ref: str, plan: ImagePlan, server: Server, settings: Settings,
             round_no: int, run_id: str, in_netns: bool) -> CaseRun:
    """Start the server, measure it, remove the container. A server that fails is recorded, not raised.

    Readiness is polled on the port published on 127.0.0.1 (what a user's client sees); wrk goes there
    too, or, with `in_netns`, to 127.0.0.1:80 inside the container's network namespace (see load.py)."""
    case = CaseRun(plan.image, server.key, round_no)
    port = free_port()
    name = f"bench-{run_id}-{plan.image}-{server.key}-r{round_no}"
    container = None
    started = time.monotonic()
    try:
        container = client.containers.run(
            image_ref, list(server.command) if server.command else None, name=name, detach=True,
            environment=server.env, ports={f"{CONTAINER_PORT}/tcp": (LOOPBACK, port)},
            labels={"bench.run": run_id},
        )
        case.cold_start_s = wait_for_first_200(container, port, started, settings.start_timeout_s)
        check_endpoints(port)
        time.sleep(settings.settle_s)
        case.memory_bytes = memory_in_use(container.stats(stream=False, one_shot=True))
        container.reload()  # the attributes `run` returned predate the start: no process id yet
        address = Address(CONTAINER_PORT, container.attrs["State"]["Pid"]) if in_netns else Address(port)
        run_wrk(address, HELLO.path, max(settings.concurrencies), settings.warmup_s, settings.wrk_threads)
        for endpoint in ENDPOINTS:
            for concurrency in settings.concurrencies:
                case.loads[cell_key(endpoint.name, concurrency)] = run_wrk(
                    address, endpoint.path, concurrency, settings.duration_s, settings.wrk_threads)
    except (ServerFailed, LoadError, OSError, http.client.HTTPException, docker.errors.DockerException) as error:
        logs = _log_tail(container) if container is not None else ""
        case.failure = f"{error}" + (f"\n--- last log lines of {name}:\n{logs}" if logs else "")
    finally:
        remove_container(client, name)
    return case


def remove_container(client: docker.DockerClient, name: str) -> None:
    """Remove a container of ours by its name, running or not, even one whose start failed half-way."""
    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass
