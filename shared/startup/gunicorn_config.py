"""The image's default Gunicorn configuration (an entry point; /gunicorn_conf.py is a thin file over it).

Every value comes from the environment through `startup.settings`, so this file only maps settings to
Gunicorn's names. A user's own gunicorn_conf.py can extend it instead of copying it:

    from startup.gunicorn_config import *  # noqa: F401,F403  (all of the defaults below)

    workers = 4  # then override what you need

Hooks (`on_starting`, `when_ready`, `post_fork`, `post_worker_init`, `child_exit`) are part of the defaults; a config
that defines its own should call ours too, e.g. `startup.gunicorn_config.on_starting(server)`.

Importing this module never imports Gunicorn, so `python /gunicorn_conf.py` works anywhere.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from startup import (
    gthread_heads,
    gunicorn_fixes,
    processes,
    prometheus_dir,
    server_identity,
    uvicorn_drain,
    uvicorn_limits,
)
from startup.settings import Settings, SettingsError, load_settings

# What `from startup.gunicorn_config import *` hands a user's config: Gunicorn settings and hooks.
__all__ = [  # noqa: RUF022  (grouped: settings, hooks, extras; more are appended below when set)
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
    "on_starting",
    "when_ready",
    "post_fork",
    "post_worker_init",
    "child_exit",
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
logger_class = (
    "startup.gunicorn_logging.JsonLogger" if settings.log_format == "json" else "startup.gunicorn_logging.Logger"
)
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
if settings.forwarded_allow_ips is not None:
    forwarded_allow_ips = settings.forwarded_allow_ips  # Uvicorn's worker reads it from here too
    __all__.append("forwarded_allow_ips")
if settings.worker_user is not None:
    # The master (root) binds the port, then workers switch to this unprivileged account.
    user = settings.worker_user
    group = settings.worker_group
    __all__ += ["group", "user"]


# --- hooks ---------------------------------------------------------------------------------------------


def effective_log_data(cfg: Any) -> dict[str, Any]:
    """`log_data` with the values Gunicorn really uses (a user's config or GUNICORN_CMD_ARGS may differ)."""
    data = dict(log_data)
    data.update(
        loglevel=str(cfg.loglevel).lower(),
        workers=cfg.workers,
        bind=",".join(cfg.bind),
        graceful_timeout=cfg.graceful_timeout,
        timeout=cfg.timeout,
        keepalive=cfg.keepalive,
        errorlog=cfg.errorlog,
        accesslog=cfg.accesslog,
    )
    return data


def on_starting(server: Any) -> None:
    """In the master, before any worker: print the settings line and empty the metrics directory (the
    start script prepared it already; this removes what its look at the app left there)."""
    print(json.dumps(effective_log_data(server.cfg)), flush=True)
    if settings.prometheus_multiproc_dir:
        try:
            prometheus_dir.prepare(settings.prometheus_multiproc_dir, server.cfg.uid, server.cfg.gid)
        except OSError as error:
            problem = prometheus_dir.problem(settings.prometheus_multiproc_dir, error)
            print(f"Error: {problem}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None


def when_ready(server: Any) -> None:
    """In the master, once it handles SIGCHLD and before any worker: reap orphans that ended earlier (e.g. a
    prestart's background jobs), which no SIGCHLD will announce any more."""
    dirty_arbiter = getattr(server, "dirty_arbiter_pid", 0)  # Gunicorn's own child: left for Gunicorn
    reaped = processes.reap_exited_children(keep={dirty_arbiter} if dirty_arbiter else ())
    if reaped:
        server.log.debug("Reaped %d orphaned process(es) that ended before Gunicorn started", len(reaped))


def post_fork(server: Any, worker: Any) -> None:
    """In each new worker, before it loads the app and before it switches to the workers' account:

    - Uvicorn workers get Gunicorn's request-head limits (limit_request_line, limit_request_fields,
      limit_request_field_size) and HEADER_TIMEOUT (other workers' parsers enforce the limits already),
      and a graceful stop that lets just-accepted connections deliver their request (`startup.uvicorn_drain`);
    - gthread workers read each request head on their main loop and give a pool thread only whole heads,
      with HEADER_TIMEOUT (`startup.gthread_heads`);
    - Gunicorn's error pages get a well-formed head on Python 3.14+ (`startup.gunicorn_fixes`);
    - a worker that will switch from root to the workers' account gets that account's HOME.
    """
    uvicorn_limits.apply_limits(worker, server.cfg, settings.header_timeout)
    uvicorn_drain.apply_drain(worker)
    gthread_heads.apply(worker, settings.header_timeout)
    gunicorn_fixes.apply()
    if os.geteuid() == 0 and server.cfg.uid != 0:
        home = processes.home_after_switch(server.cfg.uid, os.environ.get("HOME"))
        if home is not None:
            os.environ["HOME"] = home


def post_worker_init(worker: Any) -> None:
    """In each worker: remember its class for `startup.server_info()`."""
    server_identity.record_worker(worker)


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker exits: drop its live-gauge files so its metrics stop counting, and fold
    its other files into the archive files (`startup.prometheus_dir`), so the directory stays bounded."""
    directory = settings.prometheus_multiproc_dir
    if not directory:
        return
    try:
        from prometheus_client import multiprocess
    except ImportError:
        return
    try:
        multiprocess.mark_process_dead(worker.pid, directory)
        prometheus_dir.fold_dead_process(directory, worker.pid)
    except Exception as error:  # noqa: BLE001  (an exception here would stop Gunicorn's master)
        log = getattr(server, "log", None)
        if log is not None:
            log.warning("Metrics files of worker %s in %s not folded: %r", worker.pid, directory, error)


def print_log_data() -> None:
    """What `python /gunicorn_conf.py` prints: the settings JSON object, nothing else."""
    print(json.dumps(log_data), flush=True)
