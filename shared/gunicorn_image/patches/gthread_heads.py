"""Gunicorn's threaded worker: a pool thread gets a connection only once its request head is in (a leaf).

gthread hands each readable connection to a pool thread, whose parser then reads the request head with
blocking reads. A client that sends half a head and stops holds that thread, with no time limit, so
THREADS such clients stall every other client of the worker. Here the worker's main loop, which already
watches idle connections with its poller, reads each head without blocking first, and hands the
connection to a pool thread (its bytes given to the connection's parser, which reads them first) only
once the head is complete (an empty line after the request line). Meanwhile:

- a head already too long for Gunicorn's limits (``limit_request_line``, ``limit_request_field_size``, and
  the most bytes ``limit_request_fields`` lets a head have) gets the 414 or 431 that Gunicorn's parser
  would give once it had read the rest, and is closed;
- a head not complete ``header_timeout`` seconds after the connection was made (or, on a kept-alive
  connection, after its first byte) gets ``408 Request Timeout`` and is closed, as the project's Uvicorn
  workers do (``gunicorn_image.patches.uvicorn_limits``). With no ``header_timeout``, a new connection that sends nothing
  is closed after Gunicorn's ``keepalive`` seconds, as Gunicorn's own pending connections are, and a
  started head may take its time, on the poller and not in a thread.

Only plain HTTP/1 connections are read here; TLS, HTTP/2 with prior knowledge and the uWSGI protocol keep
Gunicorn's own flow. Bodies are read by the pool thread as before. ``apply(worker, header_timeout)`` is
called in each new worker by the image's ``post_fork`` hook (``gunicorn_image.contract``); it replaces the
worker's ``enqueue_req`` and ``murder_pending`` on the instance, so the worker class stays ``gthread``. Follows gunicorn 27.0.1
(``gunicorn/workers/gthread.py``); with any other gthread it leaves the worker alone.
"""

from __future__ import annotations

import re
import selectors
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

__all__ = ["HeadReader", "apply", "head_state"]

# The private parts of Gunicorn this relies on (`gunicorn_image.patches.private_name_missing` checks each;
# "path#name": `name` is set in that function, e.g. an attribute its __init__ assigns).
PRIVATE_NAMES = (
    "gunicorn.workers.gthread.ThreadWorker.enqueue_req",
    "gunicorn.workers.gthread.ThreadWorker.murder_pending",
    "gunicorn.workers.gthread.TConn.__init__#data_ready",
    "gunicorn.workers.gthread.TConn.__init__#is_http2",
    "gunicorn.workers.gthread.TConn.__init__#parser",
    "gunicorn.http.unreader.Unreader.take_buffered",
    "gunicorn.http.unreader.Unreader.unread",
    "gunicorn.http.get_parser",
    "gunicorn.http2.negotiation.prior_knowledge_allowed",
)

READ_SIZE = 64 * 1024
STOP_LINGER = 2.0  # a stopping worker gives a head it waits for this long (Gunicorn's STOP_KEEPALIVE_LINGER)

# Gunicorn's own bounds (gunicorn/http/message.py), so that a setting means the same here as there.
_MAX_REQUEST_LINE = 8190
_UNLIMITED_REQUEST_LINE = 1024 * 1024
_MAX_HEADERS = 32768
_DEFAULT_MAX_HEADERFIELD_SIZE = 8190

COMPLETE, PARTIAL, URI_TOO_LONG, FIELDS_TOO_LARGE = "complete", "partial", "414", "431"
_EMPTY_LINES = re.compile(rb"[\r\n]*")


def _limits(cfg: Any) -> tuple[int, int, int]:
    """(request line, header line, whole head): the most bytes Gunicorn's parser takes, CRLFs excluded, with
    Gunicorn's meaning of 0 and its caps (gunicorn/http/message.py)."""
    line = cfg.limit_request_line
    line = _UNLIMITED_REQUEST_LINE if line == 0 else min(line, _MAX_REQUEST_LINE) if line > 0 else _MAX_REQUEST_LINE
    fields = min(cfg.limit_request_fields, _MAX_HEADERS) if cfg.limit_request_fields > 0 else _MAX_HEADERS
    field_size = cfg.limit_request_field_size
    field_size = field_size if field_size > 0 else _DEFAULT_MAX_HEADERFIELD_SIZE
    return line, field_size, line + 2 + (fields + 1) * (field_size + 2) + 4


def head_state(head: bytes | bytearray, line_limit: int, field_limit: int, head_limit: int, scanned: int = 0) -> str:
    """Whether ``head`` (the bytes read so far) holds a whole request head (COMPLETE), is already longer than
    Gunicorn's limits let a head be (URI_TOO_LONG, FIELDS_TOO_LARGE), or neither (PARTIAL).

    ``scanned``: how many bytes of ``head`` an earlier call saw, so that a head read in many pieces is not
    searched for its end from the start each time.
    """
    empty_lines = _EMPTY_LINES.match(head)  # empty lines before a request are allowed (RFC 9112 2.2)
    start = empty_lines.end() if empty_lines else 0
    end_from = max(start, scanned - 2)
    if head.find(b"\n\r\n", end_from) >= 0 or head.find(b"\n\n", end_from) >= 0:
        return COMPLETE
    first_newline = head.find(b"\n", start, start + line_limit + 3)
    if first_newline < 0:  # still on the request line
        return URI_TOO_LONG if len(head) - start > line_limit + 2 else PARTIAL
    newline = head.rfind(b"\n", max(first_newline, len(head) - field_limit - 3))
    last_line = len(head) - (newline + 1) if newline >= 0 else field_limit + 3
    if last_line > field_limit + 2 or len(head) > head_limit:
        return FIELDS_TOO_LARGE
    return PARTIAL


def _answer(status: int, reason: str) -> bytes:
    body = reason.encode()
    return b"HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (
        status, body, len(body), body)


@dataclass
class _Waiting:
    """A connection whose head is being read on the poller."""

    deadline: float | None
    head: bytearray = field(default_factory=bytearray)
    clock_from_first_byte: bool = False  # kept alive: until then, the deadline is the keep-alive one
    state: str = PARTIAL
    on_poller: bool = False


class HeadReader:
    """Reads request heads on a gthread worker's main loop; see the module's docstring."""

    def __init__(self, worker: Any, header_timeout: float | None) -> None:
        from gunicorn import http
        from gunicorn.http2 import negotiation

        self.worker = worker
        self.header_timeout = header_timeout
        self.limits = _limits(worker.cfg)
        self.waiting: dict[Any, _Waiting] = {}
        self._submit: Callable[[Any], None] = worker.enqueue_req  # Gunicorn's: gives the connection to a thread
        self._murder_pending: Callable[[], None] = worker.murder_pending
        self._new_parser = http.get_parser
        self._prior_knowledge = negotiation.prior_knowledge_allowed

    # Installed on the worker as enqueue_req: called on the main loop for a new connection, a kept-alive one
    # that became readable, and one whose previous request left bytes behind.
    def enqueue_req(self, conn: Any) -> None:
        if not self._reads(conn):
            self._submit(conn)
            return
        now = time.monotonic()
        if conn.parser is None:  # a new connection: the clock starts now
            waiting = _Waiting(now + (self.header_timeout or self.worker.cfg.keepalive))
        else:  # kept alive: the header clock starts with the first byte, which may be here already
            waiting = _Waiting(now + self.worker.cfg.keepalive, clock_from_first_byte=True)
            buffered = conn.parser.unreader.take_buffered()
            if buffered:
                self._add(waiting, buffered, now)
        self.waiting[conn] = waiting
        conn.sock.setblocking(False)
        self._read(conn, waiting, now)

    # Installed on the worker as murder_pending: called on the main loop about once a second.
    def murder_pending(self) -> None:
        self._murder_pending()
        now = time.monotonic()
        stopping = not self.worker.alive
        for conn, waiting in list(self.waiting.items()):
            if stopping:  # as Gunicorn's kept-alive connections: a request that arrives meanwhile is served
                waiting.deadline = min(waiting.deadline or now + STOP_LINGER, now + STOP_LINGER)
            if waiting.deadline is not None and now >= waiting.deadline:
                self._close(conn, answer=TIMED_OUT if waiting.head and self.header_timeout else b"")

    def _reads(self, conn: Any) -> bool:
        """Whether this connection's head is read here (plain HTTP/1 only)."""
        cfg = self.worker.cfg
        if cfg.is_ssl or getattr(cfg, "protocol", "http") != "http" or conn.is_http2:
            return False
        return conn.parser is not None or not self._prior_knowledge(cfg, conn.client)

    def _readable(self, conn: Any, _sock: Any) -> None:
        waiting = self.waiting.get(conn)
        if waiting is not None:
            self._read(conn, waiting, time.monotonic())

    def _read(self, conn: Any, waiting: _Waiting, now: float) -> None:
        while waiting.state == PARTIAL:
            try:
                data = conn.sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):  # wait on the poller for more
                if not waiting.on_poller:
                    self.worker.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))
                    waiting.on_poller = True
                return
            except OSError:
                data = b""
            if not data:  # the client went away (or reset): nothing to answer
                self._close(conn, answer=b"")
                return
            self._add(waiting, data, now)
        if waiting.state == COMPLETE:
            self._hand_over(conn, waiting)
        else:  # what Gunicorn's parser would answer once it had read this much, if the client sent it
            self._close(conn, answer=REFUSALS[waiting.state])

    def _add(self, waiting: _Waiting, data: bytes, now: float) -> None:
        if not waiting.head and (waiting.clock_from_first_byte or not self.header_timeout):
            waiting.deadline = now + self.header_timeout if self.header_timeout else None
        scanned = len(waiting.head)
        waiting.head += data
        waiting.state = head_state(waiting.head, *self.limits, scanned)

    def _hand_over(self, conn: Any, waiting: _Waiting) -> None:
        self._forget(conn)
        if conn.parser is None:
            conn.parser = self._new_parser(self.worker.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(bytes(waiting.head))
        conn.data_ready = True  # the thread must not wait for bytes it has been given
        self._submit(conn)

    def _close(self, conn: Any, answer: bytes) -> None:
        self._forget(conn)
        if answer:
            try:
                conn.sock.send(answer)  # best effort: one small write to a socket with room for it
            except OSError:
                pass
        self.worker.nr_conns -= 1
        conn.close()

    def _forget(self, conn: Any) -> None:
        waiting = self.waiting.pop(conn, None)
        if waiting is not None and waiting.on_poller:
            try:
                self.worker.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass


TIMED_OUT = _answer(408, "Request Timeout")
REFUSALS = {URI_TOO_LONG: _answer(414, "URI Too Long"),
            FIELDS_TOO_LARGE: _answer(431, "Request Header Fields Too Large")}


def apply(worker: Any, header_timeout: float | None) -> None:
    """In a gthread worker process (post_fork): read request heads on the main loop. Other workers: nothing."""
    gthread = sys.modules.get("gunicorn.workers.gthread")  # not imported: not a gthread worker (and no import cost)
    if gthread is None or not isinstance(worker, gthread.ThreadWorker):
        return
    if not all(hasattr(worker, name) for name in ("enqueue_req", "murder_pending")) or \
            "data_ready" not in gthread.TConn.__init__.__code__.co_names:
        worker.log.warning("gthread: this Gunicorn is not the one gunicorn_image.patches.gthread_heads follows; "
                           "request heads are read by the pool threads")
        return
    reader = HeadReader(worker, header_timeout)
    worker.enqueue_req = reader.enqueue_req
    worker.murder_pending = reader.murder_pending


def apply_patch(worker: Any, cfg: Any, header_timeout: float | None) -> None:
    """The entry `gunicorn_image.patches.apply` calls."""
    apply(worker, header_timeout)
