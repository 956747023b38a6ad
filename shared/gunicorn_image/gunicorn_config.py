"""The image's default Gunicorn configuration (an entry point; /gunicorn_conf.py is a thin file over it).

Every value comes from the environment through `gunicorn_image.settings`, so this file only maps settings to
Gunicorn's names. A user's own gunicorn_conf.py can extend it instead of copying it:

    from gunicorn_image.gunicorn_config import *  # noqa: F401,F403  (all of the defaults below)

    workers = 4  # then override what you need

The image's hooks are not here: `gunicorn_image.serve` adds them to whatever config is loaded, before the
user's own hooks of the same name (`gunicorn_image.contract`), so a config needs neither to import nor to call them.

Importing this module never imports Gunicorn, so `python /gunicorn_conf.py` works anywhere.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from gunicorn_image.settings import Settings, SettingsError, load_settings

# What `from gunicorn_image.gunicorn_config import *` hands a user's config, and the image's defaults layer.
__all__ = [  # noqa: RUF022  (grouped: settings, extras; more are appended below when set)
    "bind",
    "workers",
    "loglevel",
    "errorlog",
    "accesslog",
    "graceful_timeout",
    "timeout",
    "keepalive",
    "logger_class",
    "worker_tmp_dir",
    "control_socket_disable",
    "log_data",
    "settings",
]


def _load() -> Settings:
    try:
        # The start script already imported the worker class to check it; do not do it again here.
        return load_settings(os.environ, check_worker_import=False)
    except SettingsError as error:
        print(f"Error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


settings = _load()

# tiangolo's `log_data`: what the startup JSON line shows.
log_data: dict[str, Any] = settings.summary()

# --- Gunicorn settings ---------------------------------------------------------------------------------

bind = settings.binds
workers = settings.workers
loglevel = settings.loglevel
errorlog = settings.errorlog
accesslog = settings.accesslog
graceful_timeout = settings.graceful_timeout
timeout = settings.timeout
keepalive = settings.keepalive
logger_class = "gunicorn_image.gunicorn_logging." + ("JsonLogger" if settings.log_format == "json" else "Logger")
# The heartbeat file: on tmpfs, so workers never block on disk and a read-only root file system works.
worker_tmp_dir = settings.worker_tmp_dir

# Gunicorn 27's control socket (for `gunicornc`) defaults to $HOME/.gunicorn, which is not writable for
# an arbitrary uid or a read-only root file system; it is off unless CONTROL_SOCKET names a path.
control_socket_disable = settings.control_socket is None
if settings.control_socket is not None:
    control_socket = settings.control_socket
    __all__.append("control_socket")

# Only what the environment sets, so Gunicorn's own defaults stay in force otherwise.
if settings.worker_class != "auto":  # `auto` needs the app imported: the start script passes -k
    worker_class = settings.worker_class
    __all__.append("worker_class")
if settings.threads is not None:
    threads = settings.threads
    __all__.append("threads")
if settings.max_requests is not None:
    max_requests = settings.max_requests
    __all__.append("max_requests")
if settings.max_requests_jitter is not None:
    max_requests_jitter = settings.max_requests_jitter
    __all__.append("max_requests_jitter")
if settings.preload:
    preload_app = True  # the master imports the app once; gunicorn_image.contract freezes it before forking
    __all__.append("preload_app")
if settings.forwarded_allow_ips is not None:
    forwarded_allow_ips = settings.forwarded_allow_ips  # Uvicorn's worker reads it from here too
    __all__.append("forwarded_allow_ips")
if settings.worker_user is not None:
    # The master (root) binds the port, then workers switch to this unprivileged account.
    user = settings.worker_user
    group = settings.worker_group
    __all__ += ["group", "user"]


def print_log_data() -> None:
    """What `python /gunicorn_conf.py` prints: the settings JSON object, nothing else."""
    print(json.dumps(log_data), flush=True)
