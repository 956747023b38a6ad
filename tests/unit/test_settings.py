"""Environment -> settings: every variable, its default, its precedence, and every bad value's message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gunicorn_image import settings as settings_module
from gunicorn_image.settings import SUMMARY_KEYS, SettingsError, app_module, gunicorn_conf_path, load_settings

NOT_ROOT = 1000  # euid for tests that should not look up APP_USER


def load(env: dict[str, str], tmp_path: Path, **overrides: Any) -> settings_module.Settings:
    options: dict[str, Any] = {
        "app_dir": tmp_path / "app",
        "image_config": tmp_path / "gunicorn_conf.py",
        "cpus": 2,
        "memory_limit": None,
        "euid": NOT_ROOT,
        "check_worker_import": False,
        "shm_dir": tmp_path / "no-shm",
    }
    options.update(overrides)
    return load_settings(env, **options)


def test_defaults_match_tiangolos(tmp_path: Path) -> None:
    s = load({}, tmp_path)
    assert (s.loglevel, s.log_format) == ("info", "text")
    assert (s.host, s.port, s.bind, s.binds) == ("0.0.0.0", "80", "0.0.0.0:80", ["0.0.0.0:80"])
    assert (s.timeout, s.graceful_timeout, s.keepalive) == (120, 120, 5)
    assert (s.accesslog, s.errorlog) == ("-", "-")
    assert (s.workers_per_core, s.max_workers, s.web_concurrency, s.workers) == (1.0, None, None, 2)
    assert (s.worker_class, s.worker_class_from_env) == ("auto", False)
    assert s.gunicorn_conf == tmp_path / "gunicorn_conf.py"
    assert (s.threads, s.max_requests, s.max_requests_jitter, s.forwarded_allow_ips) == (None, None, None, None)
    assert (s.prometheus_multiproc_dir, s.control_socket, s.run_as_root) == (None, None, False)
    assert s.worker_tmp_dir == "/tmp"
    assert s.reload_dirs == ()


# --- a table of good values: variable(s) -> the setting they produce -----------------------------------

GOOD_VALUES = [
    ({"LOG_LEVEL": "DEBUG"}, "loglevel", "debug"),
    ({"LOG_LEVEL": "Warning"}, "loglevel", "warning"),
    ({"LOG_LEVEL": " error "}, "loglevel", "error"),
    ({"LOG_LEVEL": ""}, "loglevel", "info"),
    ({"LOG_FORMAT": "JSON"}, "log_format", "json"),
    ({"HOST": "127.0.0.1"}, "bind", "127.0.0.1:80"),
    ({"PORT": "8080"}, "bind", "0.0.0.0:8080"),
    ({"HOST": "::", "PORT": "8000"}, "bind", "[::]:8000"),  # IPv6 needs brackets
    ({"HOST": "1.2.3.4", "PORT": "81", "BIND": "0.0.0.0:9000"}, "bind", "0.0.0.0:9000"),  # BIND wins
    ({"BIND": "unix:/tmp/app.sock"}, "bind", "unix:/tmp/app.sock"),
    ({"BIND": "0.0.0.0:80,[::]:80"}, "binds", ["0.0.0.0:80", "[::]:80"]),
    ({"BIND": "fd://3"}, "bind", "fd://3"),
    ({"PORT": "08080"}, "port", "8080"),
    ({"TIMEOUT": "30"}, "timeout", 30),
    ({"TIMEOUT": "0"}, "timeout", 0),  # Gunicorn: no timeout
    ({"GRACEFUL_TIMEOUT": "10"}, "graceful_timeout", 10),
    ({"KEEP_ALIVE": "2"}, "keepalive", 2),
    ({"ACCESS_LOG": ""}, "accesslog", None),  # empty disables
    ({"ERROR_LOG": ""}, "errorlog", None),
    ({"ACCESS_LOG": "/var/log/access.log"}, "accesslog", "/var/log/access.log"),
    ({"WORKERS_PER_CORE": "3"}, "workers", 6),
    ({"WORKERS_PER_CORE": "0.5"}, "workers", 2),  # the floor
    ({"DEFAULT_WORKERS_PER_CORE": "2"}, "workers", 4),  # the flask image's default
    ({"DEFAULT_WORKERS_PER_CORE": "2", "WORKERS_PER_CORE": "1"}, "workers", 2),  # the user's wins
    ({"WORKERS_PER_CORE": "4", "MAX_WORKERS": "3"}, "workers", 3),
    ({"MAX_WORKERS": "1"}, "workers", 1),  # cap applied after the floor
    ({"WEB_CONCURRENCY": "7", "MAX_WORKERS": "2", "WORKERS_PER_CORE": "1"}, "workers", 7),  # wins over all
    ({"MAX_WORKERS": "3"}, "max_workers", 3),
    ({"WORKER_CLASS": "uvicorn.workers.UvicornWorker"}, "worker_class", "uvicorn_worker.UvicornWorker"),
    ({"DEFAULT_WORKER_CLASS": "uvicorn_worker.UvicornWorker"}, "worker_class", "uvicorn_worker.UvicornWorker"),
    ({"DEFAULT_WORKER_CLASS": "meinheld.gmeinheld.MeinheldWorker", "WORKER_CLASS": "sync"}, "worker_class", "sync"),
    ({"WORKER_CLASS": "sync"}, "worker_class_from_env", True),
    ({"DEFAULT_WORKER_CLASS": "sync"}, "worker_class_from_env", False),
    ({"WORKER_CLASS": ""}, "worker_class", "auto"),
    ({"THREADS": "4"}, "threads", 4),
    ({"MAX_REQUESTS": "1000"}, "max_requests", 1000),
    ({"MAX_REQUESTS_JITTER": "50"}, "max_requests_jitter", 50),
    ({"FORWARDED_ALLOW_IPS": "*"}, "forwarded_allow_ips", "*"),
    ({"FORWARDED_ALLOW_IPS": "10.0.0.0/8, 127.0.0.1,::1"}, "forwarded_allow_ips", "10.0.0.0/8,127.0.0.1,::1"),
    ({"FORWARDED_ALLOW_IPS": ""}, "forwarded_allow_ips", ""),  # trust no proxy
    ({"PROMETHEUS_MULTIPROC_DIR": "/tmp/metrics"}, "prometheus_multiproc_dir", "/tmp/metrics"),
    ({"CONTROL_SOCKET": "/tmp/gunicorn.ctl"}, "control_socket", "/tmp/gunicorn.ctl"),
    ({"RUN_AS_ROOT": "1"}, "run_as_root", True),
    ({"RUN_AS_ROOT": "TRUE"}, "run_as_root", True),
    ({"RUN_AS_ROOT": "0"}, "run_as_root", False),
    ({}, "header_timeout", 10.0),
    ({"HEADER_TIMEOUT": "2.5"}, "header_timeout", 2.5),
    ({"HEADER_TIMEOUT": "0"}, "header_timeout", None),  # off
]


@pytest.mark.parametrize(("env", "attribute", "expected"), GOOD_VALUES, ids=[str(case[0]) for case in GOOD_VALUES])
def test_each_variable_sets_its_setting(tmp_path: Path, env: dict[str, str], attribute: str, expected: Any) -> None:
    got = getattr(load(env, tmp_path), attribute)
    assert got == expected, f"{env}: expected {attribute}={expected!r}, got {got!r}"


# --- a table of bad values: each stops with one line naming the variable, the value and what is allowed ---

BAD_VALUES = [
    ({"WORKERS_PER_CORE": "abc"}, "WORKERS_PER_CORE", "a number greater than 0"),
    ({"WORKERS_PER_CORE": "0"}, "WORKERS_PER_CORE", "a number greater than 0"),
    ({"WORKERS_PER_CORE": "-1"}, "WORKERS_PER_CORE", "a number greater than 0"),
    ({"WORKERS_PER_CORE": "nan"}, "WORKERS_PER_CORE", "a number greater than 0"),
    ({"WORKERS_PER_CORE": "inf"}, "WORKERS_PER_CORE", "a number greater than 0"),
    ({"DEFAULT_WORKERS_PER_CORE": "x"}, "DEFAULT_WORKERS_PER_CORE", "a number greater than 0"),
    ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY", "a whole number greater than 0"),
    ({"WEB_CONCURRENCY": "two"}, "WEB_CONCURRENCY", "a whole number greater than 0"),
    ({"WEB_CONCURRENCY": "1.5"}, "WEB_CONCURRENCY", "a whole number greater than 0"),
    ({"MAX_WORKERS": "x"}, "MAX_WORKERS", "a whole number greater than 0"),
    ({"MAX_WORKERS": "0"}, "MAX_WORKERS", "a whole number greater than 0"),
    ({"PORT": "http"}, "PORT", "a TCP port number from 1 to 65535"),
    ({"PORT": "0"}, "PORT", "a TCP port number from 1 to 65535"),
    ({"PORT": "65536"}, "PORT", "a TCP port number from 1 to 65535"),
    ({"PORT": "-80"}, "PORT", "a TCP port number from 1 to 65535"),
    ({"HOST": "a b"}, "HOST", "an IP address or host name"),
    ({"BIND": "0.0.0.0:http"}, "BIND", "HOST:PORT"),
    ({"BIND": ":::80"}, "BIND", "[IPv6]:PORT"),
    ({"BIND": "unix:"}, "BIND", "unix:/path"),
    ({"BIND": "fd://x"}, "BIND", "fd://N"),
    ({"BIND": "[::1"}, "BIND", "HOST:PORT"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL", "one of debug, info, warning, error, critical"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT", "one of text, json"),
    ({"TIMEOUT": "-1"}, "TIMEOUT", "a whole number of 0 or more"),
    ({"TIMEOUT": "1m"}, "TIMEOUT", "a whole number of 0 or more"),
    ({"GRACEFUL_TIMEOUT": "soon"}, "GRACEFUL_TIMEOUT", "a whole number of 0 or more"),
    ({"KEEP_ALIVE": "soon"}, "KEEP_ALIVE", "a whole number of 0 or more"),
    ({"THREADS": "0"}, "THREADS", "a whole number greater than 0"),
    ({"MAX_REQUESTS": "-5"}, "MAX_REQUESTS", "a whole number of 0 or more"),
    ({"MAX_REQUESTS_JITTER": "lots"}, "MAX_REQUESTS_JITTER", "a whole number of 0 or more"),
    ({"FORWARDED_ALLOW_IPS": "abc"}, "FORWARDED_ALLOW_IPS", "IP addresses or networks"),
    ({"FORWARDED_ALLOW_IPS": "10.0.0.0/33"}, "FORWARDED_ALLOW_IPS", "IP addresses or networks"),
    ({"PROMETHEUS_MULTIPROC_DIR": "metrics"}, "PROMETHEUS_MULTIPROC_DIR", "an absolute path"),
    ({"CONTROL_SOCKET": "gunicorn.ctl"}, "CONTROL_SOCKET", "an absolute path"),
    ({"RUN_AS_ROOT": "maybe"}, "RUN_AS_ROOT", "1/true/yes/on or 0/false/no/off"),
    ({"WORKER_CLASS": "nonsense"}, "WORKER_CLASS", "gthread"),
    ({"DEFAULT_WORKER_CLASS": "nonsense"}, "DEFAULT_WORKER_CLASS", "gthread"),
    ({"GUNICORN_CONF": "/nonexistent/gunicorn_conf.py"}, "GUNICORN_CONF", "an existing Gunicorn config file"),
    ({"RELOAD_DIRS": "/nonexistent-dir"}, "RELOAD_DIRS", "existing directories"),
    ({"HEADER_TIMEOUT": "-1"}, "HEADER_TIMEOUT", "a number of seconds of 0 or more"),
    ({"HEADER_TIMEOUT": "soon"}, "HEADER_TIMEOUT", "a number of seconds of 0 or more"),
]


@pytest.mark.parametrize(("env", "variable", "allowed"), BAD_VALUES, ids=[str(case[0]) for case in BAD_VALUES])
def test_bad_value_message_names_variable_value_and_what_is_allowed(
    tmp_path: Path, env: dict[str, str], variable: str, allowed: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load(env, tmp_path)
    message = str(caught.value)
    value = next(iter(env.values())).strip()
    assert "\n" not in message, f"the message must be one line: {message!r}"
    assert message.startswith(f"{variable}={json.dumps(value)} is not valid"), message
    assert "allowed: " in message and allowed in message, f"expected {allowed!r} in {message!r}"


def test_unimportable_worker_class_is_caught_before_gunicorn_starts(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r'WORKER_CLASS="no_such_package.Worker" is not valid: cannot import'):
        load({"WORKER_CLASS": "no_such_package.Worker"}, tmp_path, check_worker_import=True)


def test_log_level_is_case_insensitive_everywhere(tmp_path: Path) -> None:
    for value in ("DEBUG", "Debug", "debug", " dEbUg "):
        assert load({"LOG_LEVEL": value}, tmp_path).loglevel == "debug"


def test_worker_tmp_dir_is_dev_shm_when_present(tmp_path: Path) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    assert load({}, tmp_path, shm_dir=shm).worker_tmp_dir == str(shm)
    assert load({}, tmp_path, shm_dir=tmp_path / "absent").worker_tmp_dir == "/tmp"


def test_relative_reload_dirs_are_under_the_app_dir(tmp_path: Path) -> None:
    (tmp_path / "app" / "templates").mkdir(parents=True)
    (tmp_path / "lib").mkdir()
    got = load({"RELOAD_DIRS": f"templates, {tmp_path / 'lib'}"}, tmp_path).reload_dirs
    assert got == (str(tmp_path / "app" / "templates"), str(tmp_path / "lib"))


def test_cpu_budget_drives_the_worker_count(tmp_path: Path) -> None:
    assert load({}, tmp_path, cpus=1).workers == 2
    assert load({}, tmp_path, cpus=6).workers == 6
    assert load({"DEFAULT_WORKERS_PER_CORE": "2"}, tmp_path, cpus=3).workers == 6
    assert load({}, tmp_path, cpus=6).cpus == 6


# --- non-root workers -------------------------------------------------------------------------------------


def test_root_master_switches_workers_to_app_user(tmp_path: Path) -> None:
    s = load({"APP_USER": "root"}, tmp_path, euid=0)  # "root" exists on every test machine
    assert (s.worker_user, s.worker_group) == ("root", 0)


def test_missing_app_user_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r'APP_USER="no-such-user-xyz" is not valid; allowed: an existing user'):
        load({"APP_USER": "no-such-user-xyz"}, tmp_path, euid=0)


def test_numeric_app_user_needs_no_passwd_entry(tmp_path: Path) -> None:
    s = load({"APP_USER": "54321"}, tmp_path, euid=0)
    assert (s.worker_user, s.worker_group) == ("54321", 0)


@pytest.mark.parametrize(
    ("env", "euid"),
    [({"RUN_AS_ROOT": "1", "APP_USER": "no-such-user-xyz"}, 0), ({"APP_USER": "no-such-user-xyz"}, 12345)],
    ids=["RUN_AS_ROOT=1", "already-not-root"],
)
def test_no_user_switch_when_asked_to_run_as_root_or_not_root(tmp_path: Path, env: dict[str, str], euid: int) -> None:
    s = load(env, tmp_path, euid=euid)
    assert (s.worker_user, s.worker_group) == (None, None)


# --- the JSON line ----------------------------------------------------------------------------------------


def test_summary_has_tiangolos_log_data_keys_and_is_json(tmp_path: Path) -> None:
    summary = load({"ACCESS_LOG": ""}, tmp_path).summary()
    assert list(summary)[: len(SUMMARY_KEYS)] == list(SUMMARY_KEYS)
    decoded = json.loads(json.dumps(summary))
    assert decoded["accesslog"] is None and decoded["use_max_workers"] is None
    assert decoded["workers_per_core"] == 1.0 and decoded["port"] == "80" and decoded["host"] == "0.0.0.0"


# --- config file ------------------------------------------------------------------------------------------


def test_gunicorn_conf_overrides_discovery_and_may_be_relative_to_app(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    (app_dir / "conf").mkdir(parents=True)
    (app_dir / "conf" / "g.py").write_text("")
    (app_dir / "gunicorn_conf.py").write_text("")
    assert gunicorn_conf_path({"GUNICORN_CONF": "conf/g.py"}, app_dir, tmp_path / "i.py") == app_dir / "conf" / "g.py"
    assert gunicorn_conf_path({}, app_dir, tmp_path / "i.py") == app_dir / "gunicorn_conf.py"
    assert gunicorn_conf_path({"GUNICORN_CONF": ""}, app_dir, tmp_path / "i.py") == app_dir / "gunicorn_conf.py"


# --- the app module ---------------------------------------------------------------------------------------


def make_app_tree(app_dir: Path, *files: str) -> None:
    for relative in files:
        (app_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (app_dir / relative).write_text("app = api = server = application = create_app = object()\n")


@pytest.mark.parametrize(
    ("files", "env", "expected"),
    [
        (["main.py"], {}, "main:app"),
        (["app/main.py", "main.py"], {}, "app.main:app"),
        (["main.py"], {"VARIABLE_NAME": "api"}, "main:api"),
        (["custom/app.py"], {"MODULE_NAME": "custom.app"}, "custom.app:app"),
        (["custom/app.py"], {"MODULE_NAME": "custom.app", "VARIABLE_NAME": "server"}, "custom.app:server"),
        (["main.py", "other.py"], {"MODULE_NAME": "main", "APP_MODULE": "other:application"}, "other:application"),
        (["main.py"], {"APP_MODULE": "main:create_app()"}, "main:create_app()"),
        (["main.py"], {"APP_MODULE": "main"}, "main:application"),
    ],
)
def test_app_module_precedence(app_dir: Path, files: list[str], env: dict[str, str], expected: str) -> None:
    make_app_tree(app_dir, *files)
    assert app_module(env, app_dir, search_path=[str(app_dir)]) == expected


def test_no_app_found_says_where_it_looked(app_dir: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        app_module({}, app_dir, search_path=[str(app_dir)])
    message = str(caught.value)
    assert str(app_dir / "app" / "main.py") in message and str(app_dir / "main.py") in message
    assert "MODULE_NAME" in message and "APP_MODULE" in message and "\n" not in message


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MODULE_NAME": "missing_mod"}, "MODULE_NAME"),
        ({"APP_MODULE": "missing_mod:app"}, "APP_MODULE"),
        ({"APP_MODULE": "bad-name:app"}, "APP_MODULE"),
        ({"APP_MODULE": ":app"}, "APP_MODULE"),
        ({"APP_MODULE": "main:"}, "APP_MODULE"),
    ],
)
def test_bad_app_module_names_the_variable(app_dir: Path, env: dict[str, str], variable: str) -> None:
    make_app_tree(app_dir, "main.py")
    with pytest.raises(SettingsError, match=rf"^{variable}=\"{next(iter(env.values()))}\" is not valid"):
        app_module(env, app_dir, search_path=[str(app_dir)])


@pytest.mark.parametrize(
    ("env", "variable", "value"),
    [
        ({"VARIABLE_NAME": "missing"}, "VARIABLE_NAME", "missing"),
        ({"APP_MODULE": "main:missing"}, "APP_MODULE", "main:missing"),
        ({"APP_MODULE": "main:missing_factory()"}, "APP_MODULE", "main:missing_factory()"),
    ],
)
def test_app_object_the_module_does_not_define_names_the_variable(
    app_dir: Path, env: dict[str, str], variable: str, value: str
) -> None:
    make_app_tree(app_dir, "main.py")
    with pytest.raises(SettingsError) as caught:
        app_module(env, app_dir, search_path=[str(app_dir)])
    assert str(caught.value).startswith(f'{variable}="{value}" is not valid: module main defines no ')


def test_environment_is_not_modified(tmp_path: Path) -> None:
    env = {"LOG_LEVEL": "DEBUG"}
    load(env, tmp_path)
    assert env == {"LOG_LEVEL": "DEBUG"}
