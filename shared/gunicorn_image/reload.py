"""What /start-reload.sh runs: one server process that restarts on code changes (development only).

- An ASGI app with Uvicorn installed runs under `uvicorn --reload` (what tiangolo's reload script does),
  in this process, which keeps PID 1.
- Anything else runs under `gunicorn --reload --workers 1` with the user's config file, with a
  reload-friendly worker: WORKER_CLASS if set, else `gthread` for WSGI and `asgi` for ASGI apps.

Both watch *.py under /app and under RELOAD_DIRS (comma-separated), honour BIND, HOST, PORT and
LOG_LEVEL (any case), and run the prestart script first.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from gunicorn_image import apps, launch, processes, workers
from gunicorn_image.log_formats import uvicorn_log_config
from gunicorn_image.settings import APP_DIR, Settings


@dataclass(frozen=True)
class ReloadPlan:
    use_uvicorn: bool
    worker_class: str  # for gunicorn: the -k value (canonical); "" when the config file chooses


def plan_reload(
    settings: Settings,
    app_is_asgi: Callable[[], bool],
    uvicorn_installed: bool,
    config_sets_worker_class: bool = False,
) -> ReloadPlan:
    """Pick the server for reload mode (pure, for tests)."""
    explicit = settings.worker_class if settings.worker_class_from_env else None
    candidate = explicit or settings.worker_class
    if candidate == workers.AUTO:
        candidate = workers.ASGI_DEFAULT if app_is_asgi() else workers.WSGI_DEFAULT
    asgi = workers.serves_asgi(candidate)
    explicit_gunicorn_worker = explicit not in (None, workers.AUTO) and not candidate.startswith("uvicorn_worker.")
    if asgi and uvicorn_installed and not explicit_gunicorn_worker:
        return ReloadPlan(use_uvicorn=True, worker_class="")
    if explicit and explicit != workers.AUTO:
        return ReloadPlan(use_uvicorn=False, worker_class=explicit)
    if config_sets_worker_class:
        return ReloadPlan(use_uvicorn=False, worker_class="")
    return ReloadPlan(use_uvicorn=False, worker_class=workers.ASGI_DEFAULT if asgi else workers.WSGI_DEFAULT)


def watched_dirs(settings: Settings) -> list[str]:
    return [str(APP_DIR), *(d for d in settings.reload_dirs if d != str(APP_DIR))]


def gunicorn_reload_command(settings: Settings, worker_class: str, app_module: str) -> list[str]:
    command = [*launch.GUNICORN, "-c", str(settings.gunicorn_conf)]
    if worker_class:
        command += ["-k", worker_class]
    command += ["--reload", "--workers", "1"]
    for directory in watched_dirs(settings):
        # Gunicorn watches the modules it loaded; these patterns add every .py file, new ones too.
        command += ["--reload-extra-file", f"{directory.rstrip('/')}/**/*.py"]
    return [*command, app_module]


def uvicorn_address(bind: str) -> dict[str, Any]:
    """The first BIND address as uvicorn.run() arguments (uvicorn serves one address)."""
    address = bind.split(",")[0].strip()
    if address.startswith("unix:"):
        return {"uds": address[len("unix:") :]}
    if address.startswith("fd://"):
        return {"fd": int(address[len("fd://") :])}
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return {"host": host, "port": int(rest[1:]) if rest.startswith(":") else 8000}
    host, _, port = address.partition(":")
    return {"host": host, "port": int(port) if port else 8000}


def uvicorn_arguments(settings: Settings, app_module: str) -> dict[str, Any]:
    module_name, expression = apps.split_app_module(app_module)
    factory = expression.endswith("()")  # uvicorn calls a factory itself, without arguments
    arguments: dict[str, Any] = {
        "app": f"{module_name}:{expression[:-2] if factory else expression}",
        "factory": factory,
        "reload": True,
        "reload_dirs": watched_dirs(settings),
        "log_config": uvicorn_log_config(settings.loglevel, settings.log_format, settings.accesslog, settings.errorlog),
        "access_log": settings.accesslog is not None,
        "timeout_keep_alive": settings.keepalive,
        "proxy_headers": True,
        **uvicorn_address(settings.bind),
    }
    if settings.forwarded_allow_ips is not None:
        arguments["forwarded_allow_ips"] = settings.forwarded_allow_ips
    return arguments


def main() -> NoReturn:
    start = launch.prepare()
    env, settings, app_module = start.env, start.settings, start.app_module
    plan = plan_reload(
        settings,
        app_is_asgi=start.app_is_asgi,
        uvicorn_installed=importlib.util.find_spec("uvicorn") is not None,
        config_sets_worker_class=start.config_sets_worker_class,
    )
    if not plan.use_uvicorn:
        launch.exec_server(gunicorn_reload_command(settings, plan.worker_class, app_module), env)

    import uvicorn

    processes.reap_exited_children()  # a prestart's ended orphans (as launch.exec_server does)
    os.environ.clear()
    os.environ.update(env)  # the prestart's exports, for the reloaded server processes
    uvicorn.run(**uvicorn_arguments(settings, app_module))
    raise SystemExit(0)


if __name__ == "__main__":
    main()
