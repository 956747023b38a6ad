"""Beyond one `docker run` (SPEC §6): the examples in examples/ work as written.

- examples/compose.yaml under docker-compose: up, healthy, locked down, a clean stop, down.
- examples/swarm-stack.yaml on a one-node Docker Swarm made for the test: 3 replicas, then a rolling
  update to a rebuilt image while a client keeps sending requests: none may fail.
- examples/kubernetes.yaml: schema-valid for Kubernetes (kubernetes-validate --strict, run offline),
  and its container settings (limits, user, read-only root, probes) work with the image.

YAML is read with PyYAML inside a throw-away `FROM org/base` image that pip installs
kubernetes-validate (which brings PyYAML), so the host's test environment needs neither.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import machine  # tools/, on sys.path through conftest
import pytest
import requests
from docker_support import ROOT, Running, build_app_image, free_port, require_image, run_container
from docker.errors import APIError
from test_operations import (
    PIP_INSTALL,
    build_downstream,
    gunicorn_workers,
    health,
    poll,
    processes,
    report,
    startup_settings,
)
from test_runtime_contract import status_inside

EXAMPLES = ROOT / "examples"
KUBERNETES_VALIDATE = "kubernetes-validate==1.37.0"


@pytest.fixture(scope="module")
def yaml_tools() -> str:
    """An image with PyYAML and kubernetes-validate (its schemas are in the package: no network needed)."""
    return build_downstream(
        require_image("base"),
        None,
        f"RUN {PIP_INSTALL} {KUBERNETES_VALIDATE} && rm -rf {machine.PIP_CONTEXT_IN_BUILD}",
    )


def run_offline(docker, image: str, command: list[str], mounts: dict[Path, str]) -> tuple[int, str]:
    """Run `command` in `image` with no network, the given host files mounted read-only."""
    container = docker.containers.run(
        image,
        command,
        detach=True,
        network_disabled=True,
        name=f"test-ops-tool-{uuid.uuid4().hex[:10]}",
        volumes={str(path): {"bind": target, "mode": "ro"} for path, target in mounts.items()},
        healthcheck={"test": ["NONE"]},
    )
    try:
        status = container.wait(timeout=120)["StatusCode"]
        return status, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def load_yaml(docker, yaml_tools: str, path: Path) -> list[dict]:
    """Every document of a YAML file, as Python data."""
    code, output = run_offline(
        docker,
        yaml_tools,
        ["python", "-c", "import json, yaml; print(json.dumps(list(yaml.safe_load_all(open('/in.yaml')))))"],
        {path: "/in.yaml"},
    )
    assert code == 0, f"cannot parse {path}: {output}"
    return json.loads(output)


# === Docker Compose ===========================================================================================


def compose(project: str, *arguments: str, env: dict[str, str], check: bool = True) -> str:
    """docker-compose (v1 here; `docker compose` reads the same file) on examples/compose.yaml."""
    command = ["docker-compose", "-f", str(EXAMPLES / "compose.yaml"), "-p", project, *arguments]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 or not check, (
        f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout + done.stderr


def test_compose_example_serves_healthy_locked_down_and_stops_cleanly(docker) -> None:
    image = require_image("fastapi")
    project = f"opstest{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {"IMAGE": image, "HOST_PORT": str(port)}
    try:
        compose(project, "up", "-d", "--no-build", env=env)
        containers = docker.containers.list(filters={"label": f"com.docker.compose.project={project}"})
        assert len(containers) == 1, f"expected one container for {project}, got {containers}"
        container = containers[0]
        server = Running(container, port)  # the compose-made container, with conftest's helpers

        def answer():
            try:
                return requests.get(f"http://127.0.0.1:{port}/", timeout=5)
            except requests.RequestException:
                return None

        response = poll(answer, timeout=30, interval=0.3)
        assert response is not None and response.status_code == 200, (
            f"expected 200 on port {port}, got {response}\n{server.tail()}"
        )
        assert poll(lambda: health(container).get("Status") == "healthy", timeout=40, interval=0.5), (
            f"expected healthy within 40 s, got {health(container)}\n{server.tail()}"
        )
        container.reload()
        host_config = container.attrs["HostConfig"]
        assert host_config["ReadonlyRootfs"] is True and "/tmp" in (host_config.get("Tmpfs") or {}), host_config
        assert host_config["NanoCpus"] == 1_000_000_000, f"expected cpus: 1, got {host_config['NanoCpus']}"

        workers = gunicorn_workers(processes(server))
        assert workers and all(w["uid"] != 0 for w in workers), (
            f"expected non-root workers, got {workers}\n{server.tail()}"
        )
        settings = startup_settings(server)
        assert settings["cpus"] == 1 and settings["workers"] == 2, f"expected 1 CPU -> 2 workers, got {settings}"
        compose(project, "stop", env=env)
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, (
            f"expected exit 0 on stop, got {container.attrs['State']}\n{server.tail()}"
        )
    finally:
        compose(project, "down", "-v", "--remove-orphans", "-t", "30", env=env, check=False)


# === Docker Swarm =============================================================================================

# Runs inside the stack's network: requests the service by name (the engine's DNS), each on a new
# connection, until SIGTERM or its own bounds; prints the first answer from each version, then a summary.
SWARM_CLIENT = r"""
import json, signal, sys, threading, time, urllib.request
url, max_seconds, max_requests, pause = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
lock = threading.Lock()
state = {"sent": 0, "ok": 0, "failed": 0, "errors": [], "versions": {}}
deadline = time.monotonic() + max_seconds

def client():
    while not stop.is_set() and time.monotonic() < deadline:
        with lock:
            if state["sent"] >= max_requests:
                return
            state["sent"] += 1
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                version = json.loads(response.read())["version"]
            with lock:
                state["ok"] += 1
                if version not in state["versions"]:
                    print(f"first answer from version {version}", flush=True)
                state["versions"][version] = state["versions"].get(version, 0) + 1
        except Exception as error:
            with lock:
                state["failed"] += 1
                state["errors"].append(f"{type(error).__name__}: {error}"[:200])
        stop.wait(pause)

threads = [threading.Thread(target=client) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("SUMMARY " + json.dumps(state), flush=True)
"""


@pytest.fixture(scope="module")
def swarm(docker):
    """A one-node swarm on loopback, made for these tests and left afterwards."""
    state = docker.info()["Swarm"]["LocalNodeState"]
    if state != "inactive":
        pytest.skip(f"this engine is already in a swarm (state {state}); the test only uses a swarm it makes")
    had_gateway_bridge = bool(docker.networks.list(names=["docker_gwbridge"]))
    docker.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    try:
        yield docker
    finally:
        docker.swarm.leave(force=True)
        if not had_gateway_bridge:  # swarm init made it; leave it as we found it

            def removed() -> bool:
                try:
                    for network in docker.networks.list(names=["docker_gwbridge"]):
                        network.remove()
                    return True
                except APIError:  # still in use for a moment after leaving
                    return False

            poll(removed, timeout=15, interval=1)


def logs_of(container) -> str:
    return container.logs().decode(errors="replace")


def stack_deploy(stack: str, compose_file: Path, image: str) -> None:
    command = ["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(compose_file), stack]
    done = subprocess.run(
        command, env={**os.environ, "IMAGE": image}, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"


def running_tasks(docker, service: str) -> list[dict]:
    try:
        tasks = docker.services.get(service).tasks(filters={"desired-state": "running"})
    except APIError:  # NotFound included
        return []
    return [t for t in tasks if t["Status"]["State"] == "running"]


def task_images(docker, service: str) -> list[str]:
    return sorted(t["Spec"]["ContainerSpec"]["Image"] for t in running_tasks(docker, service))


@pytest.mark.alone  # makes this engine a swarm node for a while: nothing else may run beside it
def test_swarm_rolling_update_to_a_rebuilt_image_fails_no_request(swarm, yaml_tools, tmp_path) -> None:
    docker = swarm
    fastapi = require_image("fastapi")
    old_image = build_app_image(fastapi, "ops_asgi", "ENV APP_VERSION=1")
    new_image = build_app_image(fastapi, "ops_asgi", "ENV APP_VERSION=2")
    stack_file = load_yaml(docker, yaml_tools, EXAMPLES / "swarm-stack.yaml")[0]
    web = stack_file["services"]["web"]
    # This engine's kernel has no IPVS (/proc/net/ip_vs), which the routing mesh (published ports) and
    # virtual-IP load balancing need; the client therefore runs in the stack's network and the service
    # answers its DNS name with every healthy replica (dnsrr). Everything else is the example's.
    web.pop("ports", None)
    web["deploy"]["endpoint_mode"] = "dnsrr"
    compose_file = tmp_path / "stack.json"  # JSON is YAML
    compose_file.write_text(json.dumps(stack_file))
    stack = f"ops{uuid.uuid4().hex[:8]}"
    service = f"{stack}_web"
    client = None
    try:
        stack_deploy(stack, compose_file, old_image)
        assert poll(lambda: task_images(docker, service) == [old_image] * 3, timeout=90, interval=1), (
            f"expected 3 healthy replicas of {old_image}, got {task_images(docker, service)}"
        )
        client = docker.containers.run(
            fastapi,
            ["python", "-c", SWARM_CLIENT, f"http://{service}/", "150", "40000", "0.01"],
            network=f"{stack}_web",
            detach=True,
            name=f"test-ops-client-{uuid.uuid4().hex[:8]}",
            healthcheck={"test": ["NONE"]},
        )
        assert poll(lambda: "first answer from version 1" in logs_of(client), timeout=30), logs_of(client)
        began = time.monotonic()
        stack_deploy(stack, compose_file, new_image)

        def update_state() -> str | None:
            status = docker.services.get(service).attrs.get("UpdateStatus") or {}
            return (
                status.get("State")
                if status.get("State") in ("completed", "rollback_completed", "paused", "rollback_paused")
                else None
            )

        final_state = poll(update_state, timeout=150, interval=1)
        took = time.monotonic() - began
        assert final_state == "completed", (
            f"expected the update to complete, got {final_state!r}: "
            f"{docker.services.get(service).attrs.get('UpdateStatus')}"
        )
        assert poll(lambda: task_images(docker, service) == [new_image] * 3, timeout=30, interval=1), (
            f"expected 3 replicas of {new_image}, got {task_images(docker, service)}"
        )
        assert poll(lambda: "first answer from version 2" in logs_of(client), timeout=15), logs_of(client)
        client.kill(signal="SIGTERM")
        client.wait(timeout=30)
        summary_line = next((line for line in logs_of(client).splitlines() if line.startswith("SUMMARY ")), "")
        assert summary_line, f"the client printed no summary:\n{logs_of(client)[-2000:]}"
        summary = json.loads(summary_line.removeprefix("SUMMARY "))
        report(
            f"swarm rolling update of 3 replicas ({old_image} -> {new_image}) took {took:.0f}s; "
            f"client: {summary['ok']} ok, {summary['failed']} failed, per version {summary['versions']}"
        )
        assert summary["failed"] == 0, (
            f"expected no failed request during the update, got {summary['failed']}: {summary['errors'][:10]}"
        )
        assert summary["versions"].get("1") and summary["versions"].get("2"), summary["versions"]
    finally:
        if client is not None:
            client.remove(force=True)
        subprocess.run(["docker", "stack", "rm", stack], capture_output=True, timeout=60, check=False)
        poll(
            # sparse: a full listing inspects each container, and one the stack is removing can vanish in between
            lambda: not docker.containers.list(
                all=True, sparse=True, filters={"label": f"com.docker.stack.namespace={stack}"}
            ),
            timeout=40,
            interval=1,
        )


# === Kubernetes ===============================================================================================


def test_kubernetes_example_is_schema_valid_offline(docker, yaml_tools) -> None:
    code, output = run_offline(
        docker,
        yaml_tools,
        ["kubernetes-validate", "--strict", "/in/kubernetes.yaml"],
        {EXAMPLES / "kubernetes.yaml": "/in/kubernetes.yaml"},
    )
    assert code == 0, f"expected examples/kubernetes.yaml valid (strict, no network), got {code}:\n{output}"
    for resource in ("deployment/web", "service/web", "poddisruptionbudget/web"):
        assert f"passed for resource {resource}" in output, f"expected {resource} checked, got:\n{output}"


def quantity_to_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for unit, factor in units.items():
        if quantity.endswith(unit):
            return int(float(quantity[: -len(unit)]) * factor)
    return int(quantity)


def cpu_to_nano(quantity: str) -> int:
    return int(float(quantity[:-1]) * 1_000_000) if quantity.endswith("m") else int(float(quantity) * 1_000_000_000)


def test_kubernetes_example_container_settings_work_with_the_image(docker, yaml_tools) -> None:
    """The Deployment's container as Docker can run it: its limits, user, read-only root, no capabilities,
    memory-backed /tmp and port; the probes it declares pass, and the worker pool follows the CPU limit."""
    documents = load_yaml(docker, yaml_tools, EXAMPLES / "kubernetes.yaml")
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    image_name, _, tag = container["image"].partition(":")
    image = require_image(image_name.split("/", 1)[1], tag.removeprefix("py"))  # ORG's build of the example's image
    security = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert security["readOnlyRootFilesystem"] and security["allowPrivilegeEscalation"] is False
    memory_mounts = {v["name"] for v in pod["volumes"] if v.get("emptyDir", {}).get("medium") == "Memory"}
    ports = {item["name"]: item["containerPort"] for item in container["ports"]}
    port = ports["http"]
    limits = container["resources"]["limits"]
    options = {
        "user": f"{pod['securityContext']['runAsUser']}:{pod['securityContext'].get('runAsGroup', 0)}",
        "read_only": True,
        "cap_drop": security["capabilities"]["drop"],
        "security_opt": ["no-new-privileges"],
        "tmpfs": {m["mountPath"]: "" for m in container["volumeMounts"] if m["name"] in memory_mounts},
        "nano_cpus": cpu_to_nano(limits["cpu"]),
        "mem_limit": quantity_to_bytes(limits["memory"]),
    }
    env = {item["name"]: item["value"] for item in container.get("env", [])}
    with run_container(image, env=env, port=port, **options) as server:
        server.wait_http("/")
        settings = startup_settings(server)
        expected_cpus = max(1, -(-cpu_to_nano(limits["cpu"]) // 1_000_000_000))
        report(
            f"kubernetes example under Docker: limit cpu {limits['cpu']} -> cpus {settings['cpus']}, "
            f"workers {settings['workers']}; memory limit {limits['memory']}"
        )
        assert settings["cpus"] == expected_cpus, f"expected the CPU limit ({expected_cpus}) honoured, got {settings}"
        assert settings["workers"] == max(2, expected_cpus), f"expected {max(2, expected_cpus)} workers, got {settings}"
        assert "lifecycle" not in container, "SHUTDOWN_DELAY replaces a preStop sleep"
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container[kind]["httpGet"]  # asked by the kubelet from outside: here, from inside the pod
            url = f"http://127.0.0.1:{ports.get(probe['port'], probe['port'])}{probe['path']}"
            status = poll(lambda: status_inside(server, url) == "200", timeout=15)
            assert status, f"{kind} ({url}) would fail\n{server.tail()}"
        code, output = server.exec(["python", "-m", "gunicorn_image.healthcheck"])
        assert code == 0, f"expected the image's own health check to pass too, got {code}: {output}"
        stats = server.container.stats(stream=False)
        used = stats["memory_stats"].get("usage", 0)
        report(f"kubernetes example under Docker: memory in use {used / 2**20:.0f} MiB of {limits['memory']}")
        assert used < quantity_to_bytes(limits["memory"]) // 2, f"expected well under the memory limit, using {used}"
