"""Every guarantee holds with any Gunicorn config the user brings, on every image of the family.

For each image in versions.json (a new image needs no edit here) and each way a user configures Gunicorn:

- none: the image's /gunicorn_conf.py;
- standalone: tiangolo's README style at /app/gunicorn_conf.py, importing nothing of ours (tests/apps/config_styles);
- extending: `from gunicorn_image.gunicorn_config import *` and one change;
- own hooks: the old name `startup.gunicorn_config`, with on_starting/post_fork/child_exit of its own;
- GUNICORN_CMD_ARGS: Gunicorn's own variable;

one container, read-only root with a tmpfs on /tmp, serving the image's own example app, is checked for: workers
not root, no control socket, heartbeats on tmpfs, an oversized header refused, HEADER_TIMEOUT, exactly one
settings line, the user's hooks run as well as ours, and a graceful stop that exits 0. A config that switches
guarantees off explicitly keeps its values and the start announces each in one line.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests
from docker_support import project, require_image, run_container
from test_operations import PIP_INSTALL, build_downstream
from test_runtime_contract import explain, settings_lines, user_image

STYLES: dict[str, dict[str, str]] = {
    "none": {"GUNICORN_CONF": "/gunicorn_conf.py"},
    "standalone": {},  # /app/gunicorn_conf.py, found as tiangolo's images find it
    "extending": {"GUNICORN_CONF": "/app/conf/extending.py"},
    "own-hooks": {"GUNICORN_CONF": "conf/own_hooks.py"},
    "cmd-args": {"GUNICORN_CONF": "/gunicorn_conf.py", "GUNICORN_CMD_ARGS": "--workers 2 --keep-alive 3"},
}
HEADER_TIMEOUT = 2
OVERSIZED_HEADER = {"X-Big": "a" * 70_000}
# Meinheld, org/flask's server, parses heads in C with limits of its own and has no header timeout.
NO_HEADER_TIMEOUT = {"flask": "Meinheld reads request heads in C and has no header-read timeout"}

# Inside the container: each worker's uid and where its open files point; the unix sockets in use.
WORKERS_AND_SOCKETS = r"""
import json, os
workers = []
for name in os.listdir("/proc"):
    if not name.isdigit():
        continue
    try:
        status = dict(l.split(":", 1) for l in open(f"/proc/{name}/status").read().splitlines() if ":" in l)
    except OSError:
        continue
    if status["PPid"].strip() != "1":
        continue
    files = []
    for fd in os.listdir(f"/proc/{name}/fd"):
        try:
            files.append(os.readlink(f"/proc/{name}/fd/{fd}"))
        except OSError:
            pass
    workers.append({"uid": int(status["Uid"].split()[0]), "files": files})
sockets = [line.split()[-1] for line in open("/proc/net/unix").read().splitlines()[1:] if len(line.split()) > 7]
print(json.dumps({"workers": workers, "sockets": sockets}))
"""


def header_timeout_closes(port: int, limit: float) -> bool:
    """A half-sent request head is answered and closed within `limit` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit + 5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass
        return time.monotonic() - started <= limit


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("image", project.IMAGES)
def test_every_guarantee_holds_with_every_config_style(image: str, style: str) -> None:
    env = {**STYLES[style], "HEADER_TIMEOUT": str(HEADER_TIMEOUT), "WEB_CONCURRENCY": "2"}
    # SYS_PTRACE only lets the test read the workers' open files (they switched user, so are not dumpable).
    with run_container(user_image(image, "config_styles"), env, read_only=True, tmpfs={"/tmp": ""},
                       cap_add=["SYS_PTRACE"]) as server:
        answer = server.wait_http("/")
        assert answer.status_code == 200, explain(server, f"GET / answered {answer.status_code}")

        # The first answer can come before the second worker has booted: poll for it.
        deadline = time.monotonic() + 15
        while True:
            status, output = server.exec(["python", "-c", WORKERS_AND_SOCKETS])
            assert status == 0, explain(server, output)
            seen = json.loads(output)
            workers = seen["workers"]
            if len(workers) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(workers) == 2, explain(server, f"expected 2 workers, found {seen['workers']}")
        assert all(w["uid"] != 0 for w in workers), explain(server, f"workers run as root: {workers}")
        assert not [s for s in seen["sockets"] if "gunicorn" in s], explain(server, f"control socket: {seen['sockets']}")
        assert all(any(f.startswith("/dev/shm/") for f in w["files"]) for w in workers), explain(
            server, f"expected each worker's heartbeat file on /dev/shm: {[w['files'] for w in workers]}")

        refused = requests.get(server.url + "/", headers=OVERSIZED_HEADER, timeout=10)
        assert refused.status_code in (400, 431), explain(
            server, f"a 70 KB header was answered {refused.status_code}, expected 431 (or Meinheld's 400)")
        if image not in NO_HEADER_TIMEOUT:
            assert header_timeout_closes(server.port, HEADER_TIMEOUT + 3), explain(
                server, f"a half-sent head was not closed within HEADER_TIMEOUT={HEADER_TIMEOUT}s (+3)")

        logs = server.logs()
        assert len(settings_lines(logs)) == 1, explain(server, "expected exactly one settings JSON line")
        assert "skipped" not in logs and "not applied" not in logs, explain(server, "a server patch was skipped")
        if style == "own-hooks":
            assert logs.count("user hook: on_starting") == 1, explain(server, "the user's on_starting did not run")
            assert logs.count("user hook: post_fork") >= 2, explain(server, "the user's post_fork did not run")

        server.container.stop(timeout=30)
        assert server.wait_exit() == 0, explain(server, "a graceful stop did not exit 0")
        if style == "own-hooks":
            assert server.logs().count("user hook: child_exit") >= 2, explain(server, "child_exit did not run")


@pytest.mark.parametrize("image", project.IMAGES)
def test_a_config_that_switches_guarantees_off_wins_and_is_announced(image: str) -> None:
    env = {"GUNICORN_CONF": "/app/conf/switches_off.py", "WEB_CONCURRENCY": "1"}
    with run_container(user_image(image, "config_styles"), env) as server:
        assert server.wait_http("/").status_code == 200
        logs = server.logs()
        for name in ("user", "limit_request_field_size"):  # its group = 0 is the image's own (the app user's group)
            lines = [line for line in logs.splitlines() if f"sets {name} = " in line]
            assert len(lines) == 1 and "yours is used" in lines[0], explain(server, f"expected one line for {name}")
        status, output = server.exec(["python", "-c", WORKERS_AND_SOCKETS])
        workers = json.loads(output)["workers"]
        assert workers and all(w["uid"] == 0 for w in workers), explain(server, f"user = 0 was not kept: {workers}")


# An app whose startup.py, settings.py, config.py, launch.py and app.py raise on import; or a startup/ package.
COLLISIONS = {
    "modules": "",
    "startup-package": "RUN rm /app/startup.py && mkdir /app/startup && cp /app/settings.py /app/startup/__init__.py",
}


@pytest.mark.parametrize("layout", COLLISIONS)
@pytest.mark.parametrize("image", project.IMAGES)
def test_an_app_with_modules_named_like_the_image_layer_starts_and_serves(image: str, layout: str) -> None:
    with run_container(user_image(image, "name_collisions", COLLISIONS[layout])) as server:
        answer = server.wait_http("/")
        assert answer.status_code == 200, explain(server, f"GET / answered {answer.status_code}")
        assert "the image imported" not in server.logs(), explain(server, "the image imported an app module")
        status, output = server.exec(["python", "-m", "gunicorn_image.healthcheck"])
        assert status == 0, explain(server, f"the HEALTHCHECK failed: {output}")


# Servers in versions the patches were not written for, as a user's `pip install` brings them: each skipped patch
# says so in one line, and the server serves, kept-alive requests included.
OTHER_VERSIONS = {
    "gunicorn-26.1": ("base", "gunicorn==26.1.0", ("gthread_heads", "gunicorn_error_pages"), "gunicorn 26.1.0"),
    "uvicorn-0.53": ("fastapi", "uvicorn==0.53.0", ("uvicorn_limits", "uvicorn_drain"), "uvicorn 0.53.0"),
}


@pytest.mark.parametrize("case", OTHER_VERSIONS)
def test_a_server_version_the_patches_do_not_know_serves_with_one_warning_per_patch(case: str) -> None:
    image, pin, skipped, found = OTHER_VERSIONS[case]
    ref = build_downstream(require_image(image), None, f"RUN {PIP_INSTALL} --no-deps {pin}")
    with run_container(ref, {"WEB_CONCURRENCY": "1"}) as server:
        assert server.wait_http("/").status_code == 200
        with requests.Session() as session:  # kept alive: where gthread_heads broke gunicorn 26.1 workers
            for _ in range(5):
                assert session.get(server.url + "/", timeout=10).status_code == 200, explain(server, "kept-alive")
        logs = server.logs()
        for patch in skipped:
            lines = [line for line in logs.splitlines() if f"Patch {patch} skipped" in line]
            assert len(lines) == 1 and found in lines[0], explain(server, f"expected one line for {patch}")
        assert "Traceback" not in logs and "Worker exiting" not in logs, explain(server, "a worker failed")
