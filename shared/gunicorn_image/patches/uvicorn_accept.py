"""Uvicorn workers on uvloop accept new connections as promptly as they serve kept-alive ones.

uvloop's server (libuv's listen watcher) accepts rarely while its worker is busy with kept-alive
connections. Under the soak's mix (192 keep-alive and 48 new-connection clients, org/fastapi, 2 workers) new
connections waited in the kernel's accept queue (44-60 of them throughout, `ss -ltn`) for a median of
406 ms: 120 requests/s against 10,000/s for the kept-alive clients, and over 10 minutes thousands reached
the client's 5 s timeout. Plain `uvicorn --workers 2` does the same on uvloop and not on asyncio's loop.
A uvloop loop whose server accepts from `add_reader` on the listening socket, as asyncio's loop does, gave
the new connections 1,313 requests/s at a median of 34 ms in the same test when each readiness accepted
everything queued (up to the backlog), as asyncio does. But then a burst of connections went to whichever
worker woke first: 64 of 64 wrk connections on one worker of two (`ss -tnp`), and the benchmark's 64-connection
cells lost up to 0.28x against bare Uvicorn. So each readiness accepts at most ACCEPT_BATCH (16): the other
worker, woken by the same readiness, takes its share (42/22, 16/48 of 64; without the patch 40/24, 24/40), and
the soak's mix still gets 577 new-connection requests/s at a median of 80 ms (without the patch 73/s, 621 ms).

``apply_accept(worker)`` is called by the image's ``post_fork`` hook (``gunicorn_image.patches.apply``), in the
worker process: when the worker's Uvicorn config would run uvloop's loop, it makes it run ``AcceptingLoop``
(uvloop's loop with that ``create_server``) instead, through ``Config.loop``, which takes a loop factory's
import string. Only a listening socket handed over without TLS (Gunicorn's) is served this way; any other
``create_server`` call goes to uvloop's own. Workers on asyncio's loop (``UvicornH11Worker``) are left alone.

This module imports nothing of ours, and imports uvloop only when it is used. It follows uvicorn 0.54
(``Config.get_loop_factory``, ``Server.startup`` calling ``create_server(sock=...)``, ``Server.shutdown`` calling
the server's ``close()`` and, through ``_wait_tasks_to_complete``, ``wait_closed()``) and uvloop 0.23.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from typing import Any

__all__ = ["LOOP_FACTORY", "AcceptingServer", "accepting_loop_class", "apply_accept", "new_event_loop"]

PRIVATE_NAMES = (
    "uvicorn.config.Config.get_loop_factory#import_from_string",
    "uvicorn_worker._workers.UvicornWorker.run#get_loop_factory",
    "uvicorn.server.Server.startup#create_server",
    "uvicorn.server.Server._wait_tasks_to_complete#wait_closed",
)

LOOP_FACTORY = f"{__name__}:new_event_loop"
ACCEPT_RETRY_DELAY = 1.0  # after EMFILE and the like, as asyncio waits before accepting again
ACCEPT_BATCH = 16  # connections accepted per readiness: prompt under load, a burst shared (see the docstring)

logger = logging.getLogger("uvicorn.error")


class AcceptingServer:
    """What Uvicorn uses of the server ``create_server`` returns (``close``, ``wait_closed``), accepting from
    ``add_reader``: every time the listening socket is readable, what is queued, up to ``ACCEPT_BATCH``
    (the reader is level-triggered: what is left is accepted on the loop's next turn)."""

    def __init__(self, loop: Any, protocol_factory: Any, sock: socket.socket, backlog: int) -> None:
        self._loop = loop
        self._protocol_factory = protocol_factory
        self._sock = sock
        self._fd = sock.fileno()
        self._backlog = max(1, backlog)
        self._serving = True
        self._pending: set[asyncio.Task[Any]] = set()
        sock.setblocking(False)
        sock.listen(self._backlog)  # what uvloop's create_server does with a socket handed over
        loop.add_reader(self._fd, self._accept)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,) if self._serving else ()

    def is_serving(self) -> bool:
        return self._serving

    def _accept(self) -> None:
        for _ in range(min(ACCEPT_BATCH, self._backlog)):
            try:
                connection, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # nothing more queued, or another worker took it
            except OSError as error:  # EMFILE, ENFILE, ENOBUFS, ENOMEM: wait, keep serving what is open
                logger.error("Accepting a connection failed: %s; accepting again in %.0f s", error, ACCEPT_RETRY_DELAY)
                self._loop.remove_reader(self._fd)
                self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume)
                return
            connection.setblocking(False)
            if connection.family in (socket.AF_INET, socket.AF_INET6):
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._loop.connect_accepted_socket(self._protocol_factory, connection))
            self._pending.add(task)
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.debug("A connection closed before it was set up: %r", error)

    def _resume(self) -> None:
        if self._serving:
            self._loop.add_reader(self._fd, self._accept)

    def close(self) -> None:
        """Stop accepting (the socket itself is the caller's: Uvicorn closes it)."""
        if self._serving:
            self._serving = False
            self._loop.remove_reader(self._fd)

    async def wait_closed(self) -> None:
        """Wait until the connections accepted before ``close`` are handed to their protocol."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


@functools.lru_cache(maxsize=None)
def accepting_loop_class() -> type:
    """uvloop's ``Loop`` whose ``create_server(sock=...)`` without TLS returns an ``AcceptingServer``."""
    import uvloop

    class AcceptingLoop(uvloop.Loop):
        async def create_server(self, protocol_factory: Any, host: Any = None, port: Any = None, *,
                                sock: socket.socket | None = None, ssl: Any = None, backlog: int = 100,
                                **options: Any) -> Any:
            if sock is None or host is not None or port is not None or ssl is not None or options:
                return await super().create_server(protocol_factory, host, port, sock=sock, ssl=ssl,
                                                   backlog=backlog, **options)
            return AcceptingServer(self, protocol_factory, sock, backlog)

    AcceptingLoop.__module__ = __name__
    return AcceptingLoop


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop factory ``Config.loop`` names (``LOOP_FACTORY``)."""
    loop: asyncio.AbstractEventLoop = accepting_loop_class()()
    return loop


def apply_accept(worker: Any) -> bool:
    """Make a Uvicorn worker that would run uvloop's loop run ``AcceptingLoop``; whether it did.

    Call it from Gunicorn's ``post_fork(server, worker)`` hook, before the worker runs. A worker without a
    Uvicorn config, on another loop (asyncio's, a custom one) or serving TLS is left alone.
    """
    config = getattr(worker, "config", None)
    if config is None or not hasattr(config, "get_loop_factory") or getattr(config, "is_ssl", False):
        return False
    if config.loop == LOOP_FACTORY:
        return True
    factory = config.get_loop_factory()
    if factory is None or getattr(factory, "__module__", "") != "uvloop":
        return False
    config.loop = LOOP_FACTORY  # only this worker process: post_fork runs after the fork
    return True


def apply_patch(worker: Any, cfg: Any, header_timeout: float | None) -> None:
    """The entry `gunicorn_image.patches.apply` calls."""
    apply_accept(worker)
