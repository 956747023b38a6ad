"""Gunicorn's threaded worker, made to hand idle connections back to its poller at once (a leaf).

gthread gives every new connection to a pool thread, which waits up to
`gunicorn.workers.gthread.DEFAULT_WORKER_DATA_TIMEOUT` (5 s) for the first bytes before it defers the
connection to the poller. A client that opens many connections and sends nothing thus holds every
thread for seconds, and the worker's other clients wait. With a short wait the thread only looks whether
bytes are there (a 10 ms look); a silent connection goes to the poller, which hands it back when it speaks.
"""

from __future__ import annotations

from typing import Any

IDLE_CONNECTION_WAIT_SECONDS = 0.01  # not 0: the check must still see bytes a client sent with its connect


def apply(worker: Any) -> None:
    """In a gthread worker process: stop pool threads from waiting on silent new connections."""
    try:
        from gunicorn.workers import gthread
    except ImportError:
        return
    if isinstance(worker, gthread.ThreadWorker) and hasattr(gthread, "DEFAULT_WORKER_DATA_TIMEOUT"):
        gthread.DEFAULT_WORKER_DATA_TIMEOUT = IDLE_CONNECTION_WAIT_SECONDS
