"""A graceful stop for Uvicorn workers that does not drop connections it has just accepted.

When a Uvicorn worker stops (SIGTERM, Gunicorn's SIGHUP reload, MAX_REQUESTS recycling), Uvicorn's
``Server.shutdown()`` closes its listeners and at once closes every connection that has not delivered a
request yet. Connections the worker accepted just before its listeners closed are among them, although
their request is on the wire: the client gets "Remote end closed connection without response" (1–2 of
~450 requests during a SIGHUP, ~1.5 % while MAX_REQUESTS=10 recycled workers).

The server here closes the listeners first, then waits until every connection it holds has delivered its
first request (or is gone), and only then runs Uvicorn's own shutdown, which lets requests in progress
finish. The wait ends as soon as nothing is pending, usually after one poll; it is bounded (``DRAIN_TIMEOUT``)
because a client may open a connection and send nothing, e.g. a browser's speculative preconnect. Idle
keep-alive connections (a response sent, no new request) are not waited for: Uvicorn closes them as before.

``apply_drain(worker)`` is called by the image's ``post_fork`` hook (``gunicorn_image.contract``), in the worker
process: it makes the ``_serve`` of ``uvicorn_worker.UvicornWorker`` (uvicorn-worker 0.4.0) and of the
deprecated ``uvicorn.workers.UvicornWorker`` build this server instead of ``uvicorn.server.Server``, so the
worker class stays ``uvicorn_worker.UvicornWorker``. Only that worker process is changed.

This module imports nothing of ours, and imports Uvicorn only when it is used. It follows uvicorn 0.54.0
(``Server.shutdown``, ``ServerState.connections``, the HTTP protocols' ``cycle``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from typing import Any

__all__ = ["DRAIN_INTERVAL", "DRAIN_TIMEOUT", "apply_drain", "draining_server_class", "wait_for_first_requests"]

PRIVATE_NAMES = (
    "uvicorn.server.Server.shutdown",
    "uvicorn.server.Server.__init__#force_exit",
    "uvicorn.server.Server.__init__#server_state",
    "uvicorn.server.ServerState.__init__#connections",
    "uvicorn_worker._workers.UvicornWorker._serve#Server",
    "uvicorn.workers.UvicornWorker._serve#Server",
    "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol.__init__#cycle",
    "uvicorn.protocols.http.h11_impl.H11Protocol.__init__#cycle",
)

# A request normally arrives within a millisecond of its connection; a client that is slower than this (or
# never sends) gets the connection closed, as without the drain.
DRAIN_TIMEOUT = 1.0
DRAIN_INTERVAL = 0.01

# The modules whose UvicornWorker._serve builds a `Server` named at module level.
_WORKER_MODULES = frozenset({"uvicorn_worker._workers", "uvicorn.workers"})

logger = logging.getLogger("uvicorn.error")


def awaits_first_request(connection: Any) -> bool:
    """Whether a connection of Uvicorn's HTTP protocols has not delivered a request yet (its request head may
    be arriving). WebSocket connections, and HTTP ones that served a request, are not waiting."""
    return getattr(connection, "cycle", True) is None


async def wait_for_first_requests(
    connections: Collection[Any],
    timeout: float = DRAIN_TIMEOUT,
    interval: float = DRAIN_INTERVAL,
    give_up: Callable[[], bool] = lambda: False,
) -> float:
    """Wait, once the listeners are closed, until no connection awaits its first request; returns the seconds waited.

    Polls every ``interval`` seconds, for at most ``timeout`` seconds or until ``give_up()`` is true. The first
    poll comes after one interval, so that connections accepted just before the listeners closed have been
    handed to their protocol (``connection_made``) and have read what the client sent.
    """
    import asyncio  # here: a Uvicorn worker has it already; the master of a WSGI image need not load it

    loop = asyncio.get_running_loop()
    started = loop.time()
    polls = max(1, int(timeout / interval) + 1)  # a bound on the loop even if the clock stalls
    for _ in range(polls):
        await asyncio.sleep(interval)
        waited = loop.time() - started
        if give_up() or waited >= timeout or not any(awaits_first_request(c) for c in list(connections)):
            return waited
    return loop.time() - started


@functools.lru_cache(maxsize=None)
def draining_server_class() -> type:
    """``uvicorn.server.Server`` with the drain before its shutdown."""
    from uvicorn.server import Server

    class DrainingServer(Server):
        """Uvicorn's server, whose graceful shutdown first lets just-accepted connections deliver their request."""

        async def shutdown(self, sockets: Any = None) -> None:
            for server in self.servers:
                server.close()  # stop accepting; closing again in Uvicorn's shutdown is a no-op
            for sock in sockets or []:
                sock.close()
            if not self.force_exit:
                await wait_for_first_requests(self.server_state.connections, give_up=lambda: self.force_exit)
            await super().shutdown(sockets=None)  # the sockets are closed above

    DrainingServer.__module__ = __name__
    return DrainingServer


def apply_drain(worker: Any) -> bool:
    """Make a Uvicorn worker's server drain just-accepted connections on a graceful stop; whether it did.

    Call it from Gunicorn's ``post_fork(server, worker)`` hook (in the worker process, before the worker runs).
    Workers that are not Uvicorn's are left alone; so is a UvicornWorker subclass with a ``_serve`` of its own,
    which the log then says.
    """
    serve = getattr(type(worker), "_serve", None)
    module = getattr(serve, "__module__", None)
    if module not in _WORKER_MODULES:
        if module is not None and hasattr(getattr(worker, "config", None), "http"):
            logger.warning("The worker's own _serve (%s) is kept: new connections are not drained on stop", module)
        return False
    namespace = serve.__globals__  # type: ignore[union-attr]
    from uvicorn.server import Server

    current = namespace.get("Server")
    draining = draining_server_class()
    if current is draining:
        return True
    if current is not Server:
        logger.warning("The worker builds %r, not Uvicorn's Server: new connections are not drained on stop", current)
        return False
    # Only this worker process is affected: post_fork runs after the fork.
    namespace["Server"] = draining
    return True


def apply_patch(worker: Any, cfg: Any, header_timeout: float | None) -> None:
    """The entry `gunicorn_image.patches.apply` calls."""
    apply_drain(worker)
