"""The image's guarantees, layered on whatever Gunicorn config the user brings (the middle floor).

`gunicorn_image.serve` loads a configuration in three layers:

1. the image's defaults: every setting of `gunicorn_image.gunicorn_config`, from the environment;
2. the user's config file (`-c`), `GUNICORN_CMD_ARGS` and the command line, exactly as Gunicorn does;
3. this module: the image's hooks, each run before the user's hook of the same name (both run), and one
   line for each guarantee the user's config sets explicitly to something else (theirs wins).

So a standalone tiangolo-style `gunicorn_conf.py` that never imports ours still gets non-root workers, no
control socket, heartbeats on tmpfs, request-head limits, the drain, the metrics directory, orphan reaping,
the image's logging and the settings line.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gunicorn_image import patches, processes, prometheus_dir, server_identity
from gunicorn_image.health import Health
from gunicorn_image.settings import Settings

__all__ = ["GUARANTEES", "HOOKS", "Guarantee", "ImageHooks", "announcements", "chain", "explicit_names",
           "import_shared_modules", "layer_hooks"]


@dataclass(frozen=True)
class Guarantee:
    setting: str  # Gunicorn's name
    promise: str  # what the image's value protects
    switch: str  # how to turn it off without a config file


GUARANTEES: tuple[Guarantee, ...] = (
    Guarantee("user", "workers do not run as root", "RUN_AS_ROOT=1 or APP_USER"),
    Guarantee("group", "workers do not run as root", "RUN_AS_ROOT=1 or APP_USER"),
    Guarantee("control_socket_disable", "no control socket", "CONTROL_SOCKET=<path>"),
    Guarantee("worker_tmp_dir", "worker heartbeats on tmpfs", "none"),
    Guarantee("limit_request_line", "request-head limits", "none"),
    Guarantee("limit_request_fields", "request-head limits", "none"),
    Guarantee("limit_request_field_size", "request-head limits", "none"),
    Guarantee("logger_class", "the image's log levels and LOG_FORMAT", "none"),
)

# The hooks the image needs, with the number of arguments Gunicorn calls each with.
HOOKS: Mapping[str, int] = {"on_starting": 1, "when_ready": 1, "post_fork": 2, "post_worker_init": 1, "child_exit": 2}


def explicit_names(namespace: Mapping[str, Any], image_defaults: Mapping[str, Any], known: Iterable[str]) -> set[str]:
    """The Gunicorn settings a config file sets itself: a known name whose value is not the image's own
    (a file that extends ours with `import *` and changes nothing sets nothing)."""
    known = set(known)
    return {
        name for name, value in namespace.items()
        if name in known and not (name in image_defaults and _same(value, image_defaults[name]))
    }


def _same(left: Any, right: Any) -> bool:
    if left is right:
        return True
    try:
        return bool(left == right)
    except Exception:  # noqa: BLE001  (an odd user object: count it as theirs)
        return False


def announcements(explicit: Iterable[str], image_values: Mapping[str, Any], final_values: Mapping[str, Any],
                  source: str) -> list[str]:
    """One line for each guarantee the user's configuration turned off or changed; theirs is kept."""
    lines = []
    explicit = set(explicit)
    for guarantee in GUARANTEES:
        name = guarantee.setting
        if name not in explicit or name not in final_values or _same(final_values[name], image_values.get(name)):
            continue
        lines.append(
            f"{source} sets {name} = {_shown(final_values[name])} (the image's: {_shown(image_values.get(name))}, "
            f"for {guarantee.promise}; switch: {guarantee.switch}); yours is used"
        )
    return lines


def _shown(value: Any) -> str:
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def chain(ours: Callable[..., Any], theirs: Callable[..., Any]) -> Callable[..., Any]:
    """A hook that runs ours, then theirs, with the signature Gunicorn checks (ours)."""

    def hook(*args: Any) -> Any:
        ours(*args)
        return theirs(*args)

    hook.__signature__ = inspect.signature(ours)  # type: ignore[attr-defined]
    hook.__name__ = getattr(theirs, "__name__", "hook")
    hook.__wrapped_hooks__ = (ours, theirs)  # type: ignore[attr-defined]
    return hook


def layer_hooks(cfg: Any, hooks: ImageHooks) -> None:
    """Put the image's hooks into Gunicorn's config: alone where the user has none, else chained before theirs."""
    for name in HOOKS:
        setting = cfg.settings[name]
        current = setting.get()
        ours = getattr(hooks, name)
        cfg.set(name, ours if current is setting.default or current is None else chain(ours, current))


def import_shared_modules(names: Iterable[str], warn: Callable[[str], None]) -> int:
    """Import `names` (PRELOAD_MODULES) in the master, so the workers it forks share them instead of each
    importing them again; returns how many it imported. One that fails is left to the workers, with one line."""
    imported = 0
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001  (whatever it is, the workers meet it as they would anyway)
            warn(f"PRELOAD_MODULES: {name} not imported in the master ({type(error).__name__}: {error}); "
                 "the workers import what they need themselves")
        else:
            imported += 1
    return imported


@dataclass
class ImageHooks:
    """The image's side of Gunicorn's hooks, bound to the settings of this start."""

    settings: Settings
    log_data: dict[str, Any]  # tiangolo's `log_data`: the settings line's keys beyond Gunicorn's own
    patch_modules: tuple[str, ...] = ()  # the patches that passed their version check
    notes: list[str] = field(default_factory=list)  # warnings for the master to log once it has a logger
    health: Health | None = None  # HEALTH_BIND's probes, answered by the master

    def on_starting(self, server: Any) -> None:
        """In the master, before any worker: the settings line, PRELOAD_MODULES, the notes, and an empty metrics
        directory (the start script prepared it already; this removes what its look at the app left there)."""
        print(json.dumps(effective_log_data(self.log_data, server.cfg)), flush=True)
        # The checked server patches too: each worker imports them in post_fork otherwise.
        patch_modules = [f"{patches.__name__}.{name}" for name in self.patch_modules]
        shared = import_shared_modules([*patch_modules, *self.settings.preload_modules],
                                       lambda line: server.log.warning(line))
        if server.cfg.preload_app or shared:
            # What the master imported (the app was, with PRELOAD, before this hook): out of the collector's
            # reach, so no collection in a worker writes to (and so copies) the pages it shares with the master.
            gc.freeze()
        for note in self.notes:
            server.log.warning(note)
        directory = self.settings.prometheus_multiproc_dir
        if directory:
            try:
                prometheus_dir.prepare(directory, server.cfg.uid, server.cfg.gid)
            except OSError as error:
                print(f"Error: {prometheus_dir.problem(directory, error)}", file=sys.stderr, flush=True)
                raise SystemExit(1) from None

    def when_ready(self, server: Any) -> None:
        """In the master, once it handles SIGCHLD: reap orphans that ended earlier (e.g. a prestart's background
        jobs), which no SIGCHLD will announce any more."""
        dirty_arbiter = getattr(server, "dirty_arbiter_pid", 0)  # Gunicorn's own child: left for Gunicorn
        reaped = processes.reap_exited_children(keep={dirty_arbiter} if dirty_arbiter else ())
        if reaped:
            server.log.debug("Reaped %d orphaned process(es) that ended before Gunicorn started", len(reaped))

    def post_fork(self, server: Any, worker: Any) -> None:
        """In each new worker, before it loads the app and switches to the workers' account: stop signals that end
        it, the server patches (`gunicorn_image.patches`), and the HOME of the account it will switch to."""
        # Until Gunicorn installs the worker's own handlers, the master's, inherited through fork, would swallow
        # a SIGTERM sent while this worker boots, and it would serve on after `docker stop` (seen on Meinheld).
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        if self.health is not None:
            self.health.close_in_worker()
        patches.apply(self.patch_modules, worker, server.cfg, self.settings.header_timeout,
                      lambda line: worker.log.warning(line))
        if os.geteuid() == 0 and server.cfg.uid != 0:
            home = processes.home_after_switch(server.cfg.uid, os.environ.get("HOME"))
            if home is not None:
                os.environ["HOME"] = home

    def post_worker_init(self, worker: Any) -> None:
        """In each worker, once it has loaded the app: remember its class for `gunicorn_image.server_info()`, and
        tell the master's /readyz."""
        server_identity.record_worker(worker)
        if self.health is not None:
            self.health.worker_ready()

    def child_exit(self, server: Any, worker: Any) -> None:
        """In the master, when a worker exits: drop its live-gauge files and fold its other files into the archive
        files (`gunicorn_image.prometheus_dir`), so the directory stays bounded."""
        directory = self.settings.prometheus_multiproc_dir
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
            server.log.warning("Metrics files of worker %s in %s not folded: %r", worker.pid, directory, error)


def effective_log_data(log_data: Mapping[str, Any], cfg: Any) -> dict[str, Any]:
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
