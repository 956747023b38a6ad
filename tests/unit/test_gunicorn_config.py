"""The default Gunicorn config: `python /gunicorn_conf.py`, what Gunicorn reads from it, extension, hooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from gunicorn_image import contract, patches
from gunicorn_image.settings import SUMMARY_KEYS
from unit_support import SHARED, needs_gunicorn

IMAGE_CONFIG = SHARED / "gunicorn_conf.py"
# Settings the tests pin, so results do not depend on the host (root or not, /app, CPUs).
BASE_ENV = {"RUN_AS_ROOT": "1", "WEB_CONCURRENCY": "3", "PRE_START_PATH": ""}


def run_config_file(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(SHARED), "PYTHONDONTWRITEBYTECODE": "1", **env}
    return subprocess.run(
        [sys.executable, str(IMAGE_CONFIG)], env=full_env, capture_output=True, text=True, check=False
    )


def test_python_gunicorn_conf_prints_exactly_the_json_object() -> None:
    done = run_config_file({**BASE_ENV, "LOG_LEVEL": "DEBUG", "PORT": "8080"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1, f"expected one line, got {done.stdout!r}"
    data = json.loads(lines[0])
    assert set(SUMMARY_KEYS) <= set(data), f"missing keys: {set(SUMMARY_KEYS) - set(data)}"
    assert (data["loglevel"], data["workers"], data["bind"], data["port"]) == ("debug", 3, "0.0.0.0:8080", "8080")


def test_python_gunicorn_conf_with_a_bad_value_prints_one_error_line() -> None:
    done = run_config_file({**BASE_ENV, "LOG_LEVEL": "loud"})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith('Error: LOG_LEVEL="loud" is not valid') and done.stderr.count("\n") == 1


# --- what Gunicorn itself reads from the file -------------------------------------------------------------


@pytest.fixture
def gunicorn_cfg(monkeypatch: pytest.MonkeyPatch):
    """Load a config file the way Gunicorn does, with a given environment; returns Gunicorn's Config."""
    pytest.importorskip("gunicorn", reason="gunicorn is not installed on this host")
    from gunicorn.app.base import Application
    from gunicorn.config import Config

    class Probe(Application):
        """Just Gunicorn's config-file loading, without command-line parsing or an app."""

        def __init__(self) -> None:
            self.cfg = Config()

        def init(self, parser, opts, args):
            return None

        def load(self):
            return None

    def load(env: dict[str, str], config: Path = IMAGE_CONFIG):
        for name in [n for n in os.environ if n in ENV_NAMES]:
            monkeypatch.delenv(name)
        for name, value in {**BASE_ENV, **env}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delitem(sys.modules, "gunicorn_image.gunicorn_config", raising=False)  # re-read the environment
        probe = Probe()
        probe.load_config_from_file(str(config))
        return probe.cfg

    return load


ENV_NAMES = {
    "WORKER_CLASS",
    "DEFAULT_WORKER_CLASS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "BIND",
    "HOST",
    "PORT",
    "ACCESS_LOG",
    "ERROR_LOG",
    "THREADS",
    "MAX_REQUESTS",
    "MAX_REQUESTS_JITTER",
    "FORWARDED_ALLOW_IPS",
    "CONTROL_SOCKET",
    "APP_USER",
    "RUN_AS_ROOT",
    "WEB_CONCURRENCY",
    "WORKERS_PER_CORE",
    "MAX_WORKERS",
    "GUNICORN_CONF",
    "PROMETHEUS_MULTIPROC_DIR",
    "TIMEOUT",
    "GRACEFUL_TIMEOUT",
    "KEEP_ALIVE",
    "HEADER_TIMEOUT",
}


@needs_gunicorn
def test_gunicorn_reads_every_setting_from_the_environment(gunicorn_cfg) -> None:
    cfg = gunicorn_cfg(
        {
            "LOG_LEVEL": "WARNING",
            "BIND": "127.0.0.1:9000",
            "TIMEOUT": "30",
            "GRACEFUL_TIMEOUT": "20",
            "KEEP_ALIVE": "7",
            "ACCESS_LOG": "",
            "THREADS": "4",
            "MAX_REQUESTS": "100",
            "MAX_REQUESTS_JITTER": "10",
            "FORWARDED_ALLOW_IPS": "10.0.0.0/8",
            "DEFAULT_WORKER_CLASS": "gthread",
        }
    )
    assert cfg.workers == 3 and cfg.bind == ["127.0.0.1:9000"] and cfg.loglevel == "warning"
    assert (cfg.timeout, cfg.graceful_timeout, cfg.keepalive) == (30, 20, 7)
    assert cfg.accesslog is None and cfg.errorlog == "-"
    assert (cfg.threads, cfg.max_requests, cfg.max_requests_jitter) == (4, 100, 10)
    assert cfg.forwarded_allow_ips == ["10.0.0.0/8"]
    assert cfg.worker_class_str == "gthread"
    assert cfg.control_socket_disable is True
    assert cfg.logger_class.__name__ == "Logger" and cfg.logger_class.__module__ == "gunicorn_image.gunicorn_logging"


@needs_gunicorn
def test_json_log_format_selects_the_json_logger(gunicorn_cfg) -> None:
    assert gunicorn_cfg({"LOG_FORMAT": "json"}).logger_class.__name__ == "JsonLogger"


@needs_gunicorn
def test_auto_worker_class_is_left_to_the_start_script(gunicorn_cfg) -> None:
    assert gunicorn_cfg({"DEFAULT_WORKER_CLASS": "auto"}).worker_class_str == "sync"  # Gunicorn's default; -k decides


@needs_gunicorn
def test_worker_tmp_dir_is_on_tmpfs(gunicorn_cfg) -> None:
    expected = "/dev/shm" if Path("/dev/shm").is_dir() else "/tmp"
    assert gunicorn_cfg({}).worker_tmp_dir == expected


@needs_gunicorn
def test_control_socket_only_when_asked(gunicorn_cfg) -> None:
    cfg = gunicorn_cfg({"CONTROL_SOCKET": "/tmp/g.ctl"})
    assert cfg.control_socket_disable is False and cfg.control_socket == "/tmp/g.ctl"


@needs_gunicorn
def test_root_master_runs_workers_as_app_user(gunicorn_cfg) -> None:
    if os.geteuid() != 0:
        cfg = gunicorn_cfg({"RUN_AS_ROOT": "", "APP_USER": "no-such-user"})  # not root: nothing to switch
        assert cfg.uid == os.geteuid()
        return
    cfg = gunicorn_cfg({"RUN_AS_ROOT": "", "APP_USER": "nobody"})
    import pwd

    assert cfg.uid == pwd.getpwnam("nobody").pw_uid and cfg.gid == pwd.getpwnam("nobody").pw_gid
    assert gunicorn_cfg({"RUN_AS_ROOT": "1"}).uid == 0


@needs_gunicorn
def test_every_exported_name_is_a_gunicorn_setting(gunicorn_cfg) -> None:
    from gunicorn.config import KNOWN_SETTINGS

    gunicorn_cfg(
        {
            "CONTROL_SOCKET": "/tmp/x",
            "THREADS": "2",
            "MAX_REQUESTS": "1",
            "MAX_REQUESTS_JITTER": "1",
            "FORWARDED_ALLOW_IPS": "*",
            "DEFAULT_WORKER_CLASS": "sync",
            "RUN_AS_ROOT": "",
            "APP_USER": "root",
        }
    )
    import gunicorn_image.gunicorn_config as module

    known = {setting.name for setting in KNOWN_SETTINGS}
    extras = {"log_data", "settings"}  # tiangolo's log_data, and our settings object for extending configs
    unknown = set(module.__all__) - known - extras
    assert not unknown, f"not Gunicorn settings: {unknown}"


@needs_gunicorn
def test_a_user_config_can_extend_the_default(gunicorn_cfg, tmp_path: Path) -> None:
    user_config = tmp_path / "gunicorn_conf.py"
    user_config.write_text("from gunicorn_image.gunicorn_config import *\n\nworkers = 9\nkeepalive = settings.keepalive * 2\n")
    cfg = gunicorn_cfg({"PORT": "8000", "KEEP_ALIVE": "4"}, user_config)
    assert cfg.workers == 9 and cfg.keepalive == 8
    assert cfg.bind == ["0.0.0.0:8000"]  # the rest is ours
    for hook in ("on_starting", "when_ready", "post_fork", "post_worker_init", "child_exit"):
        # The image's hooks are not in any file: gunicorn_image.serve layers them (test_contract.py).
        assert getattr(cfg, hook).__module__ == "gunicorn.config", f"{hook} comes from the config file"


# --- hooks (gunicorn_image.contract.ImageHooks, with the settings this config read) ---------------------


def image_hooks() -> contract.ImageHooks:
    import gunicorn_image.gunicorn_config as config

    return contract.ImageHooks(config.settings, config.log_data, patch_modules=tuple(p.module for p in patches.PATCHES))


@needs_gunicorn
def test_on_starting_prints_the_effective_settings_line(gunicorn_cfg, capsys) -> None:
    cfg = gunicorn_cfg({"LOG_LEVEL": "error"})
    cfg.set("workers", 5)  # e.g. GUNICORN_CMD_ARGS="-w 5"
    module = image_hooks()

    module.on_starting(types.SimpleNamespace(cfg=cfg))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["workers"] == 5 and data["loglevel"] == "error" and set(SUMMARY_KEYS) <= set(data)


@needs_gunicorn
def test_prometheus_dir_is_created_emptied_and_dead_workers_marked(
    gunicorn_cfg, tmp_path: Path, monkeypatch, capsys
) -> None:
    metrics = tmp_path / "metrics"
    (metrics / "old").mkdir(parents=True)
    (metrics / "counter_123.db").write_text("stale")
    cfg = gunicorn_cfg({"PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    module = image_hooks()

    module.on_starting(types.SimpleNamespace(cfg=cfg))
    assert metrics.is_dir() and list(metrics.iterdir()) == []

    calls: list[tuple[str, int, str]] = []
    fake = types.ModuleType("prometheus_client.multiprocess")
    fake.mark_process_dead = lambda pid, path=None: calls.append(("marked", pid, path))
    monkeypatch.setitem(sys.modules, "prometheus_client", types.ModuleType("prometheus_client"))
    monkeypatch.setitem(sys.modules, "prometheus_client.multiprocess", fake)
    sys.modules["prometheus_client"].multiprocess = fake  # type: ignore[attr-defined]
    from gunicorn_image import prometheus_dir

    monkeypatch.setattr(prometheus_dir, "fold_dead_process", lambda path, pid: calls.append(("folded", pid, path)))
    module.child_exit(None, types.SimpleNamespace(pid=4242))
    assert calls == [("marked", 4242, str(metrics)), ("folded", 4242, str(metrics))]


@needs_gunicorn
def test_a_failing_metrics_fold_is_logged_and_the_master_goes_on(gunicorn_cfg, tmp_path: Path, monkeypatch) -> None:
    gunicorn_cfg({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    module = image_hooks()
    from gunicorn_image import prometheus_dir

    fake = types.ModuleType("prometheus_client.multiprocess")
    fake.mark_process_dead = lambda pid, path=None: None
    monkeypatch.setitem(sys.modules, "prometheus_client", types.ModuleType("prometheus_client"))
    monkeypatch.setitem(sys.modules, "prometheus_client.multiprocess", fake)
    sys.modules["prometheus_client"].multiprocess = fake  # type: ignore[attr-defined]

    def corrupted(path: str, pid: int) -> list[str]:
        raise RuntimeError("Read beyond file size detected, file is corrupted.")

    monkeypatch.setattr(prometheus_dir, "fold_dead_process", corrupted)
    warnings: list[tuple] = []
    log = types.SimpleNamespace(warning=lambda *args: warnings.append(args))
    module.child_exit(types.SimpleNamespace(log=log), types.SimpleNamespace(pid=4242))  # must not raise
    assert len(warnings) == 1 and "corrupted" in repr(warnings[0])


@needs_gunicorn
def test_without_a_metrics_directory_child_exit_does_nothing(gunicorn_cfg, monkeypatch) -> None:
    gunicorn_cfg({})
    module = image_hooks()
    from gunicorn_image import prometheus_dir

    monkeypatch.setattr(prometheus_dir, "fold_dead_process", lambda *_: pytest.fail("folded without a directory"))
    module.child_exit(None, types.SimpleNamespace(pid=4242))


@needs_gunicorn
def test_unwritable_prometheus_dir_stops_with_one_line(gunicorn_cfg, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cfg = gunicorn_cfg({"PROMETHEUS_MULTIPROC_DIR": str(blocker / "metrics")})
    module = image_hooks()

    with pytest.raises(SystemExit) as caught:
        module.on_starting(types.SimpleNamespace(cfg=cfg))
    assert caught.value.code == 1
    assert capsys.readouterr().err.startswith("Error: PROMETHEUS_MULTIPROC_DIR=")


@needs_gunicorn
def test_post_worker_init_records_the_worker_for_server_info(gunicorn_cfg, monkeypatch) -> None:
    gunicorn_cfg({})
    module = image_hooks()
    from gunicorn.workers.gthread import ThreadWorker
    from gunicorn_image import server_identity

    monkeypatch.setattr(server_identity, "_recorded_worker_class", None)
    module.post_worker_init(ThreadWorker.__new__(ThreadWorker))
    assert server_identity.worker_class() == "gunicorn.workers.gthread.ThreadWorker"


@needs_gunicorn
def test_post_fork_gives_uvicorn_workers_the_head_limits_and_leaves_others(gunicorn_cfg, monkeypatch) -> None:
    cfg = gunicorn_cfg({"HEADER_TIMEOUT": "3"})
    module = image_hooks()
    from gunicorn_image.patches import uvicorn_limits

    calls: list[tuple[object, object, object]] = []
    monkeypatch.setattr(uvicorn_limits, "apply_limits", lambda worker, c, timeout: calls.append((worker, c, timeout)))
    worker = object()
    module.post_fork(types.SimpleNamespace(cfg=cfg), worker)
    assert calls == [(worker, cfg, 3.0)]


@needs_gunicorn
def test_post_fork_is_harmless_for_gunicorn_workers(gunicorn_cfg) -> None:
    cfg = gunicorn_cfg({})
    module = image_hooks()

    module.post_fork(types.SimpleNamespace(cfg=cfg), types.SimpleNamespace())  # no uvicorn Config: nothing to do


@needs_gunicorn
def test_post_fork_makes_uvicorn_workers_drain_new_connections(gunicorn_cfg, monkeypatch) -> None:
    cfg = gunicorn_cfg({})
    module = image_hooks()
    from gunicorn_image.patches import uvicorn_drain

    drained: list[object] = []
    monkeypatch.setattr(uvicorn_drain, "apply_drain", drained.append)
    worker = object()
    module.post_fork(types.SimpleNamespace(cfg=cfg), worker)
    assert drained == [worker]


@pytest.mark.parametrize(
    ("euid", "worker_uid", "home_before", "home_after"),
    [
        (0, 1000, "/root", "/app"),  # root master, workers switch to app: app's home
        (0, 0, "/root", "/root"),  # RUN_AS_ROOT: no switch
        (1000, 1000, "/", "/"),  # --user: no switch
    ],
)
@needs_gunicorn
def test_post_fork_gives_a_switching_worker_its_accounts_home(
    gunicorn_cfg, monkeypatch, euid: int, worker_uid: int, home_before: str, home_after: str
) -> None:
    gunicorn_cfg({})
    module = image_hooks()
    from gunicorn_image import processes

    monkeypatch.setattr(contract.os, "geteuid", lambda: euid)
    monkeypatch.setattr(processes, "home_after_switch", lambda uid, current: {1000: "/app"}[uid])
    monkeypatch.setenv("HOME", home_before)
    module.post_fork(types.SimpleNamespace(cfg=types.SimpleNamespace(uid=worker_uid)), types.SimpleNamespace())
    assert os.environ["HOME"] == home_after


@needs_gunicorn
def test_when_ready_reaps_orphans_but_leaves_gunicorns_own_children(gunicorn_cfg, monkeypatch) -> None:
    gunicorn_cfg({})
    module = image_hooks()
    from gunicorn_image import processes

    kept: list[object] = []
    monkeypatch.setattr(processes, "reap_exited_children", lambda keep=(): kept.append(set(keep)) or [12, 13])
    debug: list[tuple] = []
    log = types.SimpleNamespace(debug=lambda *args: debug.append(args))
    module.when_ready(types.SimpleNamespace(log=log, dirty_arbiter_pid=0))
    module.when_ready(types.SimpleNamespace(log=log, dirty_arbiter_pid=77))
    assert kept == [set(), {77}]
    assert len(debug) == 2 and debug[0][1] == 2
