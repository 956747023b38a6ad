"""What /start.sh runs: prestart, validate, then exec Gunicorn: `python -m gunicorn_image.serve -c <config>
[-k <class>] <app>`, Gunicorn's own command line run by the image's application (`gunicorn_image.serve`).

The exec keeps the container's PID 1, so Gunicorn's master gets SIGTERM directly, and its command
line shows `-c <config path>` like tiangolo's images. The settings JSON line is printed by the
image's `on_starting` hook, with the values Gunicorn really uses.
"""

from __future__ import annotations

from typing import NoReturn

from gunicorn_image import launch, workers

# Threads per gthread worker when THREADS is unset: one slow client holds one thread while it trickles
# its request, so a single thread per worker would let it stall every other client of that worker.
DEFAULT_GTHREAD_THREADS = 4


def with_default_threads(env: dict[str, str], worker_class: str | None) -> dict[str, str]:
    """THREADS=4 for the gthread worker unless THREADS is set (the config turns it into `threads`)."""
    if worker_class in (workers.WSGI_DEFAULT, "gunicorn.workers.gthread.ThreadWorker") and not env.get("THREADS"):
        return {**env, "THREADS": str(DEFAULT_GTHREAD_THREADS)}
    return env


def gunicorn_command(config: str, worker_class: str | None, app_module: str) -> list[str]:
    worker_option = ["-k", worker_class] if worker_class else []
    return [*launch.GUNICORN, "-c", config, *worker_option, app_module]


def main() -> NoReturn:
    start = launch.prepare()
    worker_class = launch.worker_class_argument(
        start.settings, start.config_sets_worker_class, False, app_is_asgi=start.app_is_asgi
    )
    env = with_default_threads(start.env, worker_class)
    launch.exec_server(gunicorn_command(str(start.settings.gunicorn_conf), worker_class, start.app_module), env)


if __name__ == "__main__":
    main()
