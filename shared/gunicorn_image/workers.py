"""Gunicorn worker-class names (a leaf: imports nothing of ours).

A worker class is named either by one of Gunicorn's short names (`sync`, `gthread`, `asgi`, ...) or by a
dotted path to a class (`uvicorn_worker.UvicornWorker`). `auto` is ours: the start script imports the
app and picks `gthread` for a WSGI app and Gunicorn's own `asgi` worker for an ASGI app.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

AUTO = "auto"
WSGI_DEFAULT = "gthread"  # what `auto` picks for a WSGI app
ASGI_DEFAULT = "asgi"  # ... and for an ASGI app: gunicorn.workers.gasgi.ASGIWorker

# Gunicorn 27's short names (gunicorn.workers.SUPPORTED_WORKERS) -> the class each stands for.
SHORT_NAMES: dict[str, str] = {
    "sync": "gunicorn.workers.sync.SyncWorker",
    "gthread": "gunicorn.workers.gthread.ThreadWorker",
    "asgi": "gunicorn.workers.gasgi.ASGIWorker",
    "gevent": "gunicorn.workers.ggevent.GeventWorker",
    "gevent_wsgi": "gunicorn.workers.ggevent.GeventPyWSGIWorker",
    "gevent_pywsgi": "gunicorn.workers.ggevent.GeventPyWSGIWorker",
    "tornado": "gunicorn.workers.gtornado.TornadoWorker",
}

# Old names that keep working: uvicorn moved its Gunicorn workers into the `uvicorn-worker` package.
DEPRECATED_NAMES: dict[str, str] = {
    "uvicorn.workers.UvicornWorker": "uvicorn_worker.UvicornWorker",
    "uvicorn.workers.UvicornH11Worker": "uvicorn_worker.UvicornH11Worker",
}

# Worker classes that serve ASGI apps; every other class serves WSGI.
ASGI_WORKERS = frozenset(
    {
        "asgi",
        "gunicorn.workers.gasgi.ASGIWorker",
        "uvicorn_worker.UvicornWorker",
        "uvicorn_worker.UvicornH11Worker",
    }
)

ALLOWED_DESCRIPTION = (
    f"{AUTO}, one of Gunicorn's names ({', '.join(SHORT_NAMES)}) "
    "or a dotted path to a worker class importable in this image (e.g. uvicorn_worker.UvicornWorker)"
)


def canonical_name(name: str) -> str:
    """The name with surrounding blanks removed and deprecated uvicorn names replaced."""
    name = name.strip()
    return DEPRECATED_NAMES.get(name, name)


def serves_asgi(name: str) -> bool:
    return canonical_name(name) in ASGI_WORKERS


def check_worker_class(
    name: str, import_module: Callable[[str], ModuleType] | None = importlib.import_module
) -> str | None:
    """None when `name` (already canonical) names a usable worker class, else why not.

    The class's module is imported (for short names too: `gevent` needs the gevent package), so a typo
    or a missing package is caught before Gunicorn starts. With `import_module=None` only the form of
    the name is checked.
    """
    if name == AUTO:
        return None
    dotted = SHORT_NAMES.get(name, name)
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name or not class_name or not all(part.isidentifier() for part in dotted.split(".")):
        return "not a known worker name nor a dotted path module.Class"
    if import_module is None:
        return None
    try:
        module = import_module(module_name)
    except ImportError as error:
        return f"cannot import {module_name} ({error})"
    except Exception as error:  # noqa: BLE001  (a broken third-party module: reported like a missing one)
        return f"importing {module_name} failed ({type(error).__name__}: {error})"
    if not hasattr(module, class_name):
        return f"{module_name} has no {class_name}"
    return None
