"""What /start.sh runs: prestart, validate, then Gunicorn's own command line, `-c <config> [-k <class>] <app>`,
run by the image's application (`gunicorn_image.serve`).

    python -m gunicorn_image.start -c <the config /start.sh guessed>

When the guess is the config the settings name, Gunicorn's master runs in this very process: one Python
start, not two (a faster cold start), and the command line already shows `-c <config path>` like
tiangolo's images. Otherwise (a prestart that exports GUNICORN_CONF, say) this process execs
`python -m gunicorn_image.serve -c <config> …`. Either way the container's PID 1 is Gunicorn's master,
which gets SIGTERM directly. The settings JSON line is printed by the image's `on_starting` hook, with the
values Gunicorn really uses.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
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


# Variables read when a process starts (by Python, the dynamic loader, the C library's allocator and
# locale): a prestart that changes one of them gets a new process for the server, as with `exec`.
READ_AT_PROCESS_START = ("PYTHON", "LD_", "MALLOC_", "GLIBC_TUNABLES", "LANG", "LC_", "TZ")


def same_process_will_do(argv: list[str], config: str, env: Mapping[str, str], current: Mapping[str, str]) -> bool:
    """Whether Gunicorn may run in this process: /start.sh named the config the settings name (so the command
    line shows the right `-c`), and no variable read at process start differs from this process's own."""
    changed = {name for name in env.keys() | current.keys() if env.get(name) != current.get(name)}
    return argv == ["-c", config] and not any(name.startswith(READ_AT_PROCESS_START) for name in changed)


def gunicorn_command(config: str, worker_class: str | None, app_module: str) -> list[str]:
    worker_option = ["-k", worker_class] if worker_class else []
    return [*launch.GUNICORN, "-c", config, *worker_option, app_module]


def main(argv: list[str]) -> NoReturn:
    start = launch.prepare()
    worker_class = launch.worker_class_argument(
        start.settings, start.config_sets_worker_class, False, app_is_asgi=start.app_is_asgi
    )
    env = with_default_threads(start.env, worker_class)
    config = str(start.settings.gunicorn_conf)
    command = gunicorn_command(config, worker_class, start.app_module)
    if same_process_will_do(argv, config, env, os.environ):
        launch.serve_here(command, env)
    launch.exec_server(command, env)


if __name__ == "__main__":
    main(sys.argv[1:])
