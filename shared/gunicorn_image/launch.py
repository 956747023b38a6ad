"""Steps /start.sh and /start-reload.sh share (the middle floor).

Each step either returns what the next one needs or ends the process with one clear line on stderr
(configuration mistakes exit 2, a failing prestart exits with the script's status). Output that must
appear before the server's own goes through `say`, which flushes: `exec` would drop a buffer.
"""

from __future__ import annotations

import os
import pwd
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from gunicorn_image import apps, config_files, prestart, processes, prometheus_dir, workers
from gunicorn_image.settings import APP_DIR, Settings, SettingsError, app_module, load_settings

CONFIG_ERROR_STATUS = 2
# Gunicorn's command line, run by the image's application (`gunicorn_image.serve`), which keeps the image's
# guarantees whatever config file the command names.
GUNICORN = [sys.executable, "-m", "gunicorn_image.serve"]


def say(line: str) -> None:
    print(line, flush=True)


def fail(message: str, status: int = CONFIG_ERROR_STATUS) -> NoReturn:
    sys.stdout.flush()
    print(f"Error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def run_prestart(env: Mapping[str, str], app_dir: Path = APP_DIR) -> dict[str, str]:
    """SPEC §5's lines, then the script; returns the environment the server gets."""
    path = prestart.resolve_prestart_path(env, app_dir)
    if path is None:
        return dict(env)  # PRE_START_PATH is empty: prestart disabled
    say(f"Checking for script in {path}")
    if not path.is_file():
        say(f"There is no script {path}")
        return dict(env)
    say(f"Running script {path}")
    try:
        return prestart.run_prestart(path, env, cwd=app_dir)
    except prestart.PrestartFailed as failure:
        fail(str(failure), failure.status if failure.status > 0 else 1)


def load_settings_or_exit(env: Mapping[str, str]) -> Settings:
    try:
        return load_settings(env)
    except SettingsError as error:
        fail(str(error))


def worker_account(settings: Settings) -> tuple[int, int]:
    """The uid and gid the workers will run as (this process's own when they do not switch)."""
    if settings.worker_user is None:
        return os.geteuid(), os.getegid()
    name = settings.worker_user
    uid = int(name) if name.isdigit() else pwd.getpwnam(name).pw_uid  # settings checked that it exists
    return uid, settings.worker_group if settings.worker_group is not None else 0


def prepare_metrics_dir_or_exit(settings: Settings) -> None:
    """Create, empty and hand to the workers' account PROMETHEUS_MULTIPROC_DIR, if set, before anything imports
    the app: a metric defined at module level opens its file in that directory on import."""
    directory = settings.prometheus_multiproc_dir
    if not directory:
        return
    try:
        prometheus_dir.prepare(directory, *worker_account(settings))
    except OSError as error:
        fail(prometheus_dir.problem(directory, error), 1)


def app_module_or_exit(env: Mapping[str, str]) -> str:
    try:
        return app_module(env)
    except SettingsError as error:
        fail(str(error))


def detect_asgi(app_module: str, env: Mapping[str, str], settings: Settings, app_dir: Path = APP_DIR) -> bool:
    """Whether the app is ASGI, asked of a child process that imports it (`python -m gunicorn_image.apps`).

    The child runs with the server's environment, in /app, and as the workers' account when the
    workers will switch to one, so whatever the app does on import happens as it will under the server.
    """
    source = "APP_MODULE" if env.get("APP_MODULE", "").strip() else "MODULE_NAME/VARIABLE_NAME"
    account: dict[str, Any] = {}
    child_env = dict(env)
    if settings.worker_user is not None and os.geteuid() == 0:
        account = {"user": settings.worker_user, "group": settings.worker_group, "extra_groups": []}
        home = processes.home_after_switch(worker_account(settings)[0], child_env.get("HOME"))
        if home is not None:
            child_env["HOME"] = home  # as the workers get it
    import subprocess  # here: only WORKER_CLASS=auto asks, and every start imports this module

    sys.stdout.flush()
    try:
        status = subprocess.run(
            [sys.executable, "-m", "gunicorn_image.apps", app_module, source],
            env=child_env,
            cwd=str(app_dir) if app_dir.is_dir() else None,
            check=False,
            **account,
        ).returncode
    except OSError as error:
        fail(f"cannot import the app to tell WSGI from ASGI ({error})", 1)
    if status == apps.PROBE_ASGI:
        return True
    if status == apps.PROBE_WSGI:
        return False
    if status == apps.PROBE_UNUSABLE:
        raise SystemExit(CONFIG_ERROR_STATUS)  # the child printed the one line
    fail(f'importing the app "{app_module}" (from {source}) failed (exit status {status}, see above)', 1)


def worker_class_argument(
    settings: Settings,
    config_sets_worker_class: bool,
    cmd_args_set_worker_class: bool,
    app_is_asgi: Callable[[], bool],
) -> str | None:
    """The value for `-k`, or None to let the config file (or GUNICORN_CMD_ARGS) choose.

    Gunicorn lets `-k` beat both, so:
    1. WORKER_CLASS is set: it wins, `-k` is passed;
    2. else GUNICORN_CMD_ARGS or the config file sets the class: no `-k`;
    3. else the image's default (DEFAULT_WORKER_CLASS) is passed with `-k`.
    `auto` becomes `gthread` for a WSGI app, `asgi` for an ASGI app.
    """
    if not settings.worker_class_from_env and (cmd_args_set_worker_class or config_sets_worker_class):
        return None
    name = settings.worker_class
    if name == workers.AUTO:
        name = workers.ASGI_DEFAULT if app_is_asgi() else workers.WSGI_DEFAULT
    return name


def config_chooses_worker_class(settings: Settings, env: Mapping[str, str]) -> tuple[bool, bool]:
    """(the config file assigns worker_class, GUNICORN_CMD_ARGS sets -k)."""
    return (
        config_files.file_assigns_worker_class(settings.gunicorn_conf),
        config_files.cmd_args_set_worker_class(env.get("GUNICORN_CMD_ARGS", "")),
    )


@dataclass(frozen=True)
class Start:
    """What both start scripts know once the prestart ran and every setting was checked."""

    env: dict[str, str]  # the server's environment: ours plus the prestart's exports
    settings: Settings
    app_module: str
    config_sets_worker_class: bool  # the config file or GUNICORN_CMD_ARGS chooses the worker class

    def app_is_asgi(self) -> bool:
        return detect_asgi(self.app_module, self.env, self.settings)


def prepare() -> Start:
    """The steps both start scripts take first: prestart, settings, metrics directory, app, config's choice."""
    env = run_prestart(os.environ)
    settings = load_settings_or_exit(env)
    prepare_metrics_dir_or_exit(settings)  # before anything imports the app
    app = app_module_or_exit(env)
    config_sets, cmd_args_set = config_chooses_worker_class(settings, env)
    return Start(env, settings, app, config_sets or cmd_args_set)


def serve_here(argv: list[str], env: Mapping[str, str]) -> NoReturn:
    """Run `argv` (a GUNICORN command line) in this process, as if exec'd: the same environment, the same
    arguments (`sys.argv[0]` is the runner's file, as with `python -m`, so Gunicorn's USR2 re-exec starts
    the runner again), but no second Python start. Orphans are reaped first, as `exec_server` does."""
    assert argv[: len(GUNICORN)] == GUNICORN, argv
    from gunicorn_image import serve  # here: the exec path must not pay for importing Gunicorn twice

    processes.reap_exited_children()
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [serve.__file__, *argv[len(GUNICORN):]]
    serve.main()
    raise SystemExit(0)


def exec_server(argv: list[str], env: Mapping[str, str]) -> NoReturn:
    """Replace this process with the server, so it keeps our PID (1 in a container) and gets SIGTERM.

    Orphans that have ended by now (a prestart's background jobs) are reaped first: the server may not
    install its SIGCHLD handling before more of them end, and those it does not hear of stay zombies.
    """
    processes.reap_exited_children()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, dict(env))
    except OSError as error:
        fail(f"cannot run {argv[0]} ({error.strerror}); is it installed in this image?", 127)
