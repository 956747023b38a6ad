"""Memory-aware worker counts (the container's memory limit, WORKER_MEMORY) and the master's probes
(HEALTH_BIND: /livez, /readyz; SHUTDOWN_DELAY), without Docker."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from gunicorn_image import cpu, health, memory
from gunicorn_image.settings import SettingsError, load_settings

V1_SELF_CGROUP = "4:memory:/docker/abc\n0::/docker/abc\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(("memory_max", "expected"), [("536870912", 512 << 20), ("max", None)])
def test_cgroup_v2_memory_max_is_the_limit(tmp_path: Path, memory_max: str, expected: int | None) -> None:
    write(tmp_path / "cgroup.controllers", "cpu memory\n")
    write(tmp_path / "memory.max", memory_max + "\n")
    assert memory.memory_limit(tmp_path, "0::/\n") == expected


@pytest.mark.parametrize(("limit", "expected"), [("268435456", 256 << 20), ("9223372036854771712", None)])
def test_cgroup_v1_limit_in_bytes_is_the_limit_and_the_huge_value_means_none(
        tmp_path: Path, limit: str, expected: int | None) -> None:
    write(tmp_path / "memory" / "docker" / "abc" / "memory.limit_in_bytes", limit + "\n")
    assert memory.memory_limit(tmp_path, V1_SELF_CGROUP) == expected


def test_a_parent_cgroups_smaller_limit_wins(tmp_path: Path) -> None:
    write(tmp_path / "cgroup.controllers", "memory\n")
    write(tmp_path / "memory.max", "268435456\n")  # the pod's
    write(tmp_path / "pod" / "ctr" / "memory.max", "max\n")
    assert memory.memory_limit(tmp_path, "0::/pod/ctr\n") == 256 << 20


def test_no_cgroup_files_means_no_limit(tmp_path: Path) -> None:
    assert memory.memory_limit(tmp_path, "") is None


@pytest.mark.parametrize(("text", "size"), [
    ("200M", 200 << 20), ("1G", 1 << 30), ("512Mi", 512 << 20), ("1.5g", 3 << 29), ("1048576", 1 << 20), ("64mb", 64 << 20)])
def test_sizes(text: str, size: int) -> None:
    assert memory.parse_size(text) == size


def test_sizes_are_shown_in_their_largest_whole_unit() -> None:
    assert [memory.shown(n) for n in (200 << 20, 1 << 30, 1536 << 20, 1000)] == ["200M", "1G", "1536M", "1000"]


@pytest.mark.parametrize("text", ["abc", "", "0", "-5M", "12X", "1 G B"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError):
        memory.parse_size(text)


@pytest.mark.parametrize(("args", "expected"), [
    ((2, 8.0, None, None, 512 << 20, 200 << 20), (2, "memory")),  # the example: 16 by CPU, 2 fit
    ((2, 1.0, None, None, 100 << 20, 200 << 20), (1, "memory")),  # at least one
    ((2, 1.0, None, None, None, 200 << 20), (2, "cpus")),  # no limit: no cap
    ((8, 1.0, 3, None, 4 << 30, 200 << 20), (3, "MAX_WORKERS")),
    ((2, 8.0, None, 7, 512 << 20, 200 << 20), (7, "WEB_CONCURRENCY")),  # wins over everything
])
def test_worker_budget(args: tuple, expected: tuple) -> None:
    assert cpu.worker_budget(*args) == expected


def settings(env: dict[str, str], tmp_path: Path, limit: int | None):
    return load_settings({"RUN_AS_ROOT": "1", "PRE_START_PATH": "", **env}, app_dir=tmp_path, cpus=2,
                         memory_limit=limit, euid=1000, check_worker_import=False)


def test_worker_memory_caps_the_workers_and_the_settings_line_says_why(tmp_path: Path) -> None:
    chosen = settings({"WORKERS_PER_CORE": "8", "WORKER_MEMORY": "200M"}, tmp_path, 512 << 20)
    summary = chosen.summary()
    assert chosen.workers == 2
    assert (summary["memory_limit"], summary["worker_memory"], summary["workers_bound"]) == ("512M", "200M", "memory")


def test_the_images_default_worker_memory_applies_when_unset(tmp_path: Path) -> None:
    chosen = settings({"DEFAULT_WORKER_MEMORY": "96M", "WORKERS_PER_CORE": "8"}, tmp_path, 300 << 20)
    assert (chosen.worker_memory, chosen.workers) == (96 << 20, 3)


@pytest.mark.parametrize(("name", "value"), [
    ("WORKER_MEMORY", "lots"), ("HEALTH_BIND", "8081"), ("HEALTH_BIND", "0.0.0.0:http"),
    ("HEALTH_BIND", "unix:/tmp/h"), ("SHUTDOWN_DELAY", "-1"), ("SHUTDOWN_DELAY", "soon")])
def test_bad_values_stop_with_one_line_naming_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings({name: value}, tmp_path, None)
    assert str(caught.value).startswith(f'{name}="{value}" is not valid') and "\n" not in str(caught.value)


def test_health_bind_and_shutdown_delay_are_read(tmp_path: Path) -> None:
    chosen = settings({"HEALTH_BIND": "[::]:8081", "SHUTDOWN_DELAY": "5"}, tmp_path, None)
    assert (chosen.health_bind, chosen.shutdown_delay) == ("[::]:8081", 5.0)


# --- the master's probes -------------------------------------------------------------------------------------


def test_probe_answers_follow_workers_readiness_and_stopping() -> None:
    probes = health.Health("127.0.0.1:0")
    workers: list[int] = []
    probes.workers = lambda: workers
    assert probes.answer(b"GET /livez HTTP/1.1").startswith(b"HTTP/1.1 503")  # no worker yet
    workers.append(41)
    assert probes.answer(b"GET /livez HTTP/1.1").startswith(b"HTTP/1.1 200")
    assert probes.answer(b"GET /readyz HTTP/1.1").startswith(b"HTTP/1.1 503")  # alive, app not loaded
    probes.ready.add(41)
    assert probes.answer(b"GET /readyz HTTP/1.1").startswith(b"HTTP/1.1 200")
    probes.stopping = True
    assert probes.answer(b"GET /readyz HTTP/1.1").startswith(b"HTTP/1.1 503")
    assert probes.answer(b"GET /livez HTTP/1.1").startswith(b"HTTP/1.1 200")
    assert probes.answer(b"GET /other HTTP/1.1").startswith(b"HTTP/1.1 404")
    assert probes.answer(b"POST /livez HTTP/1.1").startswith(b"HTTP/1.1 405")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ask(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return sock.recv(4096)


def test_probes_are_served_from_a_thread_and_readiness_comes_through_the_pipe() -> None:
    port = free_port()
    probes = health.Health(f"127.0.0.1:{port}")
    import os

    probes.start(lambda: [os.getpid()])
    stalled = socket.create_connection(("127.0.0.1", port))  # a client that sends nothing holds nobody up
    try:
        assert ask(port, "/readyz").startswith(b"HTTP/1.1 503")
        probes.worker_ready()  # as a worker does once it has loaded the app (here: this process)
        deadline = time.monotonic() + 2
        while not ask(port, "/readyz").startswith(b"HTTP/1.1 200"):
            assert time.monotonic() < deadline, "readiness did not arrive through the pipe"
            time.sleep(0.05)
        assert ask(port, "/livez").startswith(b"HTTP/1.1 200")
    finally:
        stalled.close()


def test_preload_is_a_flag(tmp_path: Path) -> None:
    assert settings({"PRELOAD": "1"}, tmp_path, None).preload is True
    assert settings({}, tmp_path, None).preload is False
    with pytest.raises(SettingsError, match='^PRELOAD="sometimes" is not valid'):
        settings({"PRELOAD": "sometimes"}, tmp_path, None)


def test_a_preloaded_app_is_frozen_out_of_the_collector_before_the_fork(tmp_path: Path, monkeypatch, capsys) -> None:
    import gc
    import types

    from gunicorn_image import contract

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    hooks = contract.ImageHooks(settings({}, tmp_path, None), {})
    cfg = types.SimpleNamespace(preload_app=True, loglevel="info", workers=2, bind=["0.0.0.0:80"], graceful_timeout=1,
                                timeout=1, keepalive=1, errorlog="-", accesslog="-")
    hooks.on_starting(types.SimpleNamespace(cfg=cfg, log=types.SimpleNamespace(warning=print)))
    cfg.preload_app = False
    hooks.on_starting(types.SimpleNamespace(cfg=cfg, log=types.SimpleNamespace(warning=print)))
    assert frozen == [True]


def test_preload_modules_default_to_the_images_list_and_can_be_changed_or_emptied(tmp_path: Path) -> None:
    image = {"DEFAULT_PRELOAD_MODULES": "uvloop starlette.routing"}
    assert settings(image, tmp_path, None).preload_modules == ("uvloop", "starlette.routing")
    assert settings({**image, "PRELOAD_MODULES": " fastapi, sqlalchemy.orm,,fastapi "}, tmp_path,
                    None).preload_modules == ("fastapi", "sqlalchemy.orm")
    assert settings({**image, "PRELOAD_MODULES": ""}, tmp_path, None).preload_modules == ()
    assert settings({}, tmp_path, None).preload_modules == ()
    with pytest.raises(SettingsError, match=r'^PRELOAD_MODULES="app:main" is not valid: .app:main. is not a module'):
        settings({"PRELOAD_MODULES": "app:main"}, tmp_path, None)
    with pytest.raises(SettingsError, match=r'^DEFAULT_PRELOAD_MODULES="flask/" is not valid'):
        settings({"DEFAULT_PRELOAD_MODULES": "flask/"}, tmp_path, None)


def test_the_master_imports_preload_modules_then_freezes_and_a_missing_one_is_one_line(
        tmp_path: Path, monkeypatch) -> None:
    import gc
    import sys
    import types

    from gunicorn_image import contract

    (tmp_path / "shared_by_workers.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "shared_by_workers", raising=False)
    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    warnings: list[str] = []
    env = {"PRELOAD_MODULES": "shared_by_workers no_such_module_here"}
    hooks = contract.ImageHooks(settings(env, tmp_path, None), {})
    cfg = types.SimpleNamespace(preload_app=False, loglevel="info", workers=2, bind=["0.0.0.0:80"], graceful_timeout=1,
                                timeout=1, keepalive=1, errorlog="-", accesslog="-")
    hooks.on_starting(types.SimpleNamespace(cfg=cfg, log=types.SimpleNamespace(warning=warnings.append)))
    assert sys.modules["shared_by_workers"].LOADED and frozen == [True]
    assert len(warnings) == 1 and warnings[0].startswith(
        "PRELOAD_MODULES: no_such_module_here not imported in the master (ModuleNotFoundError"), warnings
