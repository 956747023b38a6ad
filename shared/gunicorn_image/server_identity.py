"""Which server answered (a leaf: imports nothing of ours).

`server_info()` returns e.g. "gunicorn/27.0.1 meinheld.gmeinheld.MeinheldWorker" or "uvicorn/0.54.0",
so an example app can say which server runs it. The worker class is recorded by the default config's
`post_worker_init` hook; if a user's config replaced that hook, the worker modules loaded in this
process tell it instead.
"""

from __future__ import annotations

import sys
from typing import Any

_recorded_worker_class: str | None = None

# Worker modules -> class, most specific first (a worker process imports only its own worker module).
_WORKER_MODULES = (
    ("meinheld.gmeinheld", "meinheld.gmeinheld.MeinheldWorker"),
    ("uvicorn_worker", "uvicorn_worker.UvicornWorker"),
    ("gunicorn.workers.gasgi", "gunicorn.workers.gasgi.ASGIWorker"),
    ("gunicorn.workers.ggevent", "gunicorn.workers.ggevent.GeventWorker"),
    ("gunicorn.workers.gtornado", "gunicorn.workers.gtornado.TornadoWorker"),
    ("gunicorn.workers.gthread", "gunicorn.workers.gthread.ThreadWorker"),
    ("gunicorn.workers.sync", "gunicorn.workers.sync.SyncWorker"),
)


def record_worker(worker: Any) -> None:
    """Called in each Gunicorn worker process once it is set up."""
    global _recorded_worker_class
    _recorded_worker_class = public_class_path(type(worker))


def public_class_path(cls: type) -> str:
    """The shortest import path of a class: `uvicorn_worker.UvicornWorker`, not `uvicorn_worker._workers...`."""
    module_parts = cls.__module__.split(".")
    for depth in range(1, len(module_parts) + 1):
        module = sys.modules.get(".".join(module_parts[:depth]))
        if module is not None and getattr(module, cls.__qualname__, None) is cls:
            return f"{'.'.join(module_parts[:depth])}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def worker_class() -> str | None:
    if _recorded_worker_class:
        return _recorded_worker_class
    for module_name, class_path in _WORKER_MODULES:
        if module_name in sys.modules:
            return class_path
    return None


def server_info() -> str:
    """ "gunicorn/<version> <worker class>", "uvicorn/<version>", or "python/<version>" as a last resort."""
    gunicorn = sys.modules.get("gunicorn")
    if gunicorn is not None and "gunicorn.arbiter" in sys.modules:
        worker = worker_class()
        version = f"gunicorn/{getattr(gunicorn, '__version__', '?')}"
        return f"{version} {worker}" if worker else version
    uvicorn = sys.modules.get("uvicorn")
    if uvicorn is not None:
        return f"uvicorn/{getattr(uvicorn, '__version__', '?')}"
    import platform  # here, not at the top: every start imports this module, few call this

    return f"python/{platform.python_version()}"
