"""Steps the start scripts share: startup lines, error exits, and when `-k` is passed."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from gunicorn_image import launch, start
from gunicorn_image.settings import load_settings
from unit_support import SHARED


def settings_for(env: dict[str, str], tmp_path: Path):
    return load_settings(
        env, app_dir=tmp_path, image_config=tmp_path / "g.py", cpus=2, euid=1000, check_worker_import=False
    )


def never_called() -> bool:
    raise AssertionError("the app must not be imported when the class is already known")


@pytest.mark.parametrize(
    ("env", "config_sets", "cmd_args_set", "app_is_asgi", "expected"),
    [
        # WORKER_CLASS set: it wins over the config file and GUNICORN_CMD_ARGS (Gunicorn lets -k beat both)
        ({"WORKER_CLASS": "sync"}, True, True, never_called, "sync"),
        ({"WORKER_CLASS": "uvicorn.workers.UvicornWorker"}, False, False, never_called, "uvicorn_worker.UvicornWorker"),
        # the user's config file (or GUNICORN_CMD_ARGS) sets worker_class: not overridden
        ({"DEFAULT_WORKER_CLASS": "uvicorn_worker.UvicornWorker"}, True, False, never_called, None),
        ({"DEFAULT_WORKER_CLASS": "uvicorn_worker.UvicornWorker"}, False, True, never_called, None),
        # otherwise the image default
        (
            {"DEFAULT_WORKER_CLASS": "meinheld.gmeinheld.MeinheldWorker"},
            False,
            False,
            never_called,
            "meinheld.gmeinheld.MeinheldWorker",
        ),
        (
            {"DEFAULT_WORKER_CLASS": "uvicorn_worker.UvicornWorker"},
            False,
            False,
            never_called,
            "uvicorn_worker.UvicornWorker",
        ),
        # auto: gthread for WSGI, Gunicorn's asgi worker for ASGI
        ({"DEFAULT_WORKER_CLASS": "auto"}, False, False, lambda: False, "gthread"),
        ({"DEFAULT_WORKER_CLASS": "auto"}, False, False, lambda: True, "asgi"),
        ({}, False, False, lambda: True, "asgi"),
        ({"WORKER_CLASS": "auto"}, True, False, lambda: False, "gthread"),
        ({"DEFAULT_WORKER_CLASS": "auto"}, True, False, never_called, None),
    ],
)
def test_worker_class_option_precedence(tmp_path, env, config_sets, cmd_args_set, app_is_asgi, expected) -> None:
    settings = settings_for(env, tmp_path)
    got = launch.worker_class_argument(settings, config_sets, cmd_args_set, app_is_asgi)
    assert got == expected, (
        f"{env} config_sets={config_sets} cmd_args_set={cmd_args_set}: expected {expected}, got {got}"
    )


def test_config_chooses_worker_class_reads_file_and_cmd_args(tmp_path: Path) -> None:
    conf = tmp_path / "g.py"
    conf.write_text("worker_class = 'sync'\n")
    settings = replace(settings_for({}, tmp_path), gunicorn_conf=conf)
    assert launch.config_chooses_worker_class(settings, {"GUNICORN_CMD_ARGS": "-k gevent"}) == (True, True)
    conf.write_text("from gunicorn_image.gunicorn_config import *\n")
    assert launch.config_chooses_worker_class(settings, {}) == (False, False)


@pytest.mark.parametrize(
    ("worker_class", "expected"),
    [
        (None, [*launch.GUNICORN, "-c", "/gunicorn_conf.py", "main:app"]),
        ("gthread", [*launch.GUNICORN, "-c", "/gunicorn_conf.py", "-k", "gthread", "main:app"]),
    ],
)
def test_gunicorn_command_shows_the_config_path(worker_class, expected) -> None:
    assert start.gunicorn_command("/gunicorn_conf.py", worker_class, "main:app") == expected


def test_startup_lines_when_there_is_no_script(app_dir: Path, capsys) -> None:
    env = launch.run_prestart({"PATH": "/usr/bin:/bin"}, app_dir)
    assert env == {"PATH": "/usr/bin:/bin"}
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Checking for script in {app_dir}/prestart.sh", f"There is no script {app_dir}/prestart.sh"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_startup_lines_when_the_script_runs(app_dir: Path, capsys) -> None:
    (app_dir / "prestart.sh").write_text("echo hello from prestart\nexport FOO=bar\n")
    env = launch.run_prestart({"PATH": "/usr/bin:/bin"}, app_dir)
    assert env["FOO"] == "bar"
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"Checking for script in {app_dir}/prestart.sh", f"Running script {app_dir}/prestart.sh"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_failing_prestart_exits_with_its_status_and_one_line(app_dir: Path, capsys) -> None:
    (app_dir / "prestart.sh").write_text("exit 4\n")
    with pytest.raises(SystemExit) as caught:
        launch.run_prestart({"PATH": "/usr/bin:/bin"}, app_dir)
    assert caught.value.code == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: the prestart script") and "exit status 4" in err[0]


def test_empty_pre_start_path_prints_nothing(app_dir: Path, capsys) -> None:
    (app_dir / "prestart.sh").write_text("exit 1\n")
    assert launch.run_prestart({"PRE_START_PATH": ""}, app_dir) == {"PRE_START_PATH": ""}
    assert capsys.readouterr().out == ""


def test_configuration_error_exits_2_with_one_line_and_no_traceback(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        launch.load_settings_or_exit({"WORKERS_PER_CORE": "abc"})
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith('Error: WORKERS_PER_CORE="abc" is not valid; allowed:')


def test_exec_failure_is_reported_cleanly(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        launch.exec_server(["no-such-server-binary-xyz"], {"PATH": "/nonexistent"})
    assert caught.value.code == 127
    assert "cannot run no-such-server-binary-xyz" in capsys.readouterr().err


def probe_env(app_dir: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{SHARED}:{app_dir}", "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.mark.parametrize(
    ("source", "asgi"),
    [
        ("async def app(scope, receive, send):\n    pass\n", True),
        ("class App:\n    async def __call__(self, scope, receive, send):\n        pass\napp = App()\n", True),
        ("def app(environ, start_response):\n    return []\n", False),
    ],
)
def test_auto_detection_imports_the_app_in_a_child_process(
    app_dir: Path, tmp_path: Path, source: str, asgi: bool
) -> None:
    (app_dir / "main.py").write_text("import os\nassert os.environ['FROM_PRESTART'] == 'yes'\n" + source)
    env = probe_env(app_dir) | {"FROM_PRESTART": "yes"}  # the child sees the prestart's environment
    assert launch.detect_asgi("main:app", env, settings_for({}, tmp_path), app_dir) is asgi
    assert "main" not in sys.modules  # imported in the child only: this process stays clean


def test_auto_detection_of_a_missing_object_exits_2_with_one_line(app_dir: Path, tmp_path: Path, capfd) -> None:
    (app_dir / "main.py").write_text("application = None\n")
    with pytest.raises(SystemExit) as caught:
        launch.detect_asgi("main:app", probe_env(app_dir), settings_for({}, tmp_path), app_dir)
    assert caught.value.code == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "module main has no attribute 'app'" in err and "Traceback" not in err


def test_auto_detection_of_a_broken_app_shows_its_traceback_and_exits_1(app_dir: Path, tmp_path: Path, capfd) -> None:
    (app_dir / "main.py").write_text("raise RuntimeError('database unreachable')\n")
    with pytest.raises(SystemExit) as caught:
        launch.detect_asgi("main:app", probe_env(app_dir), settings_for({}, tmp_path), app_dir)
    assert caught.value.code == 1
    err = capfd.readouterr().err
    assert "RuntimeError: database unreachable" in err and 'Error: importing the app "main:app"' in err


# --- PROMETHEUS_MULTIPROC_DIR, before the app is imported ------------------------------------------------


def test_metrics_directory_is_prepared_when_set(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    launch.prepare_metrics_dir_or_exit(settings_for({"PROMETHEUS_MULTIPROC_DIR": str(directory)}, tmp_path))
    assert directory.is_dir()
    launch.prepare_metrics_dir_or_exit(settings_for({}, tmp_path))  # unset: nothing to do


def test_unwritable_metrics_directory_exits_1_with_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("")
    settings = settings_for({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "file" / "metrics")}, tmp_path)
    with pytest.raises(SystemExit) as caught:
        launch.prepare_metrics_dir_or_exit(settings)
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("Error: PROMETHEUS_MULTIPROC_DIR=") and "Traceback" not in err


def test_workers_account_is_this_process_when_there_is_no_switch(tmp_path: Path) -> None:
    assert launch.worker_account(settings_for({}, tmp_path)) == (os.geteuid(), os.getegid())
    switching = replace(settings_for({}, tmp_path), worker_user="4242", worker_group=0)
    assert launch.worker_account(switching) == (4242, 0)


@pytest.mark.parametrize("script", ["start", "reload"])
def test_metrics_directory_is_prepared_before_the_app_is_imported(monkeypatch, tmp_path: Path, script: str) -> None:
    from gunicorn_image import reload

    steps: list[str] = []
    settings = settings_for({"DEFAULT_WORKER_CLASS": "auto"}, tmp_path)

    class Exec(Exception):
        pass

    def exec_server(argv, env):
        steps.append("exec")
        raise Exec

    monkeypatch.setattr(launch, "run_prestart", lambda env: steps.append("prestart") or dict(env))
    monkeypatch.setattr(launch, "load_settings_or_exit", lambda env: steps.append("settings") or settings)
    monkeypatch.setattr(launch, "prepare_metrics_dir_or_exit", lambda s: steps.append("metrics dir"))
    monkeypatch.setattr(launch, "app_module_or_exit", lambda env: "main:app")
    monkeypatch.setattr(launch, "config_chooses_worker_class", lambda s, env: (False, False))
    monkeypatch.setattr(launch, "detect_asgi", lambda *args: steps.append("import app") or False)
    monkeypatch.setattr(launch, "exec_server", exec_server)
    with pytest.raises(Exec):
        start.main([]) if script == "start" else reload.main()
    assert steps == ["prestart", "settings", "metrics dir", "import app", "exec"]


@pytest.mark.parametrize(
    ("argv", "env_change", "same_process"),
    [
        (["-c", "/app/gunicorn_conf.py"], {}, True),
        (["-c", "/app/gunicorn_conf.py"], {"DATABASE_URL": "postgres://db"}, True),  # a prestart's export
        (["-c", "/app/gunicorn_conf.py"], {"THREADS": "4"}, True),  # the gthread default
        (["-c", "/gunicorn_conf.py"], {}, False),  # /start.sh guessed another config (GUNICORN_CONF from prestart)
        ([], {}, False),  # run without the guess: `python -m gunicorn_image.start`
        (["-c", "/app/gunicorn_conf.py"], {"PYTHONPATH": "/app/src"}, False),
        (["-c", "/app/gunicorn_conf.py"], {"LD_PRELOAD": "libjemalloc.so.2"}, False),
        (["-c", "/app/gunicorn_conf.py"], {"MALLOC_ARENA_MAX": "2"}, False),
        (["-c", "/app/gunicorn_conf.py"], {"LANG": None}, False),  # unset by the prestart
    ],
)
def test_gunicorn_runs_in_the_start_process_only_when_nothing_read_at_start_changed(argv, env_change, same_process) -> None:
    current = {"PATH": "/usr/bin", "LANG": "C.UTF-8"}
    env = {**current, **env_change}
    env = {name: value for name, value in env.items() if value is not None}
    assert start.same_process_will_do(argv, "/app/gunicorn_conf.py", env, current) is same_process


def test_serve_here_runs_gunicorn_with_the_command_line_and_environment_exec_would_give(monkeypatch) -> None:
    from gunicorn_image import serve

    seen: dict[str, object] = {}
    monkeypatch.setattr(serve, "main", lambda: seen.update(argv=list(sys.argv), foo=os.environ.get("FOO")))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(os, "environ", dict(os.environ))
    command = start.gunicorn_command("/app/gunicorn_conf.py", "gthread", "main:app")
    with pytest.raises(SystemExit):
        launch.serve_here(command, {"FOO": "from prestart", "PATH": "/usr/bin"})
    assert seen == {"argv": [serve.__file__, "-c", "/app/gunicorn_conf.py", "-k", "gthread", "main:app"],
                    "foo": "from prestart"}


@pytest.mark.parametrize(
    ("worker_class", "env", "threads"),
    [
        ("gthread", {}, "4"),
        ("gunicorn.workers.gthread.ThreadWorker", {}, "4"),
        ("gthread", {"THREADS": "2"}, "2"),
        ("sync", {}, None),  # threads > 1 would turn Gunicorn's sync worker into gthread
        ("uvicorn_worker.UvicornWorker", {}, None),
        (None, {}, None),  # the config file chooses the class: its own threads apply
    ],
)
def test_gthread_gets_four_threads_unless_threads_is_set(worker_class, env, threads) -> None:
    assert start.with_default_threads(env, worker_class).get("THREADS") == threads
