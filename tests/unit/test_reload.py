"""/start-reload.sh: which server, which worker, which address, what is watched."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from gunicorn_image import launch, reload
from gunicorn_image.settings import load_settings


def settings_for(env: dict[str, str], tmp_path: Path):
    return load_settings(
        env, app_dir=tmp_path, image_config=tmp_path / "g.py", cpus=2, euid=1000, check_worker_import=False
    )


def fail_if_called() -> bool:
    raise AssertionError("the app kind is known from the worker class")


@pytest.mark.parametrize(
    ("env", "asgi_app", "uvicorn", "config_sets", "expected"),
    [
        # fastapi/starlette images: uvicorn --reload, as tiangolo's reload script
        ({"DEFAULT_WORKER_CLASS": "uvicorn_worker.UvicornWorker"}, fail_if_called, True, False, (True, "")),
        ({"WORKER_CLASS": "uvicorn.workers.UvicornWorker"}, fail_if_called, True, False, (True, "")),
        # flask image: gunicorn --reload with a reload-friendly WSGI worker
        (
            {"DEFAULT_WORKER_CLASS": "meinheld.gmeinheld.MeinheldWorker"},
            fail_if_called,
            True,
            False,
            (False, "gthread"),
        ),
        # base image: decided from the app
        ({"DEFAULT_WORKER_CLASS": "auto"}, lambda: True, True, False, (True, "")),
        ({"DEFAULT_WORKER_CLASS": "auto"}, lambda: True, False, False, (False, "asgi")),  # no uvicorn installed
        ({"DEFAULT_WORKER_CLASS": "auto"}, lambda: False, True, False, (False, "gthread")),
        # an explicit WORKER_CLASS is honoured
        ({"WORKER_CLASS": "sync"}, fail_if_called, True, False, (False, "sync")),
        ({"WORKER_CLASS": "asgi"}, fail_if_called, True, False, (False, "asgi")),
        ({"WORKER_CLASS": "sync"}, fail_if_called, True, True, (False, "sync")),
        # a config file choosing the class is not overridden
        ({"DEFAULT_WORKER_CLASS": "auto"}, lambda: False, True, True, (False, "")),
    ],
)
def test_reload_server_choice(tmp_path, env, asgi_app, uvicorn, config_sets, expected) -> None:
    plan = reload.plan_reload(settings_for(env, tmp_path), asgi_app, uvicorn, config_sets)
    assert (plan.use_uvicorn, plan.worker_class) == expected


def test_gunicorn_reload_command_watches_app_and_reload_dirs(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    settings = replace(settings_for({"RELOAD_DIRS": "templates"}, tmp_path), gunicorn_conf=Path("/gunicorn_conf.py"))
    command = reload.gunicorn_reload_command(settings, "gthread", "main:app")
    server = len(launch.GUNICORN)
    assert command[:server] == [sys.executable, "-m", "gunicorn_image.serve"]
    assert command[server:server + 4] == ["-c", "/gunicorn_conf.py", "-k", "gthread"]
    assert command[server + 4:server + 7] == ["--reload", "--workers", "1"]
    assert "--reload-extra-file" in command and "/app/**/*.py" in command
    assert f"{tmp_path}/templates/**/*.py" in command
    assert command[-1] == "main:app"
    assert "-k" not in reload.gunicorn_reload_command(settings, "", "main:app")


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("0.0.0.0:80", {"host": "0.0.0.0", "port": 80}),
        ("127.0.0.1:8080,[::]:8080", {"host": "127.0.0.1", "port": 8080}),
        ("[::]:8000", {"host": "::", "port": 8000}),
        ("localhost", {"host": "localhost", "port": 8000}),
        ("unix:/tmp/app.sock", {"uds": "/tmp/app.sock"}),
        ("fd://3", {"fd": 3}),
    ],
)
def test_bind_becomes_uvicorn_address(bind: str, expected: dict) -> None:
    assert reload.uvicorn_address(bind) == expected


@pytest.mark.parametrize(
    ("env", "checks"),
    [
        ({"HOST": "127.0.0.1", "PORT": "9000"}, {"host": "127.0.0.1", "port": 9000}),
        ({"BIND": "0.0.0.0:81", "PORT": "9000"}, {"host": "0.0.0.0", "port": 81}),
        ({"ACCESS_LOG": ""}, {"access_log": False}),
        ({"FORWARDED_ALLOW_IPS": "*"}, {"forwarded_allow_ips": "*", "proxy_headers": True}),
        ({"KEEP_ALIVE": "9"}, {"timeout_keep_alive": 9}),
    ],
)
def test_uvicorn_arguments_follow_the_settings(tmp_path: Path, env: dict, checks: dict) -> None:
    arguments = reload.uvicorn_arguments(settings_for(env, tmp_path), "main:app")
    for key, value in checks.items():
        assert arguments[key] == value, f"{env}: expected {key}={value!r}, got {arguments[key]!r}"
    assert arguments["reload"] is True and arguments["reload_dirs"][0] == "/app"


@pytest.mark.parametrize("level", ["DEBUG", "Warning", "error"])
def test_uvicorn_log_level_any_case(tmp_path: Path, level: str) -> None:
    config = reload.uvicorn_arguments(settings_for({"LOG_LEVEL": level}, tmp_path), "main:app")["log_config"]
    assert config["loggers"]["uvicorn"]["level"] == level.upper()
    assert config["root"]["level"] == level.upper()


def test_uvicorn_factory_syntax(tmp_path: Path) -> None:
    arguments = reload.uvicorn_arguments(settings_for({}, tmp_path), "main:create_app()")
    assert (arguments["app"], arguments["factory"]) == ("main:create_app", True)
