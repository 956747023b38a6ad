"""Request-head limits and a header-read timeout for Uvicorn workers.

Uvicorn has no limit on the size or number of request headers, and no time limit for reading them: one client
streaming a 128 MiB header stalled its worker for about 22 s. Gunicorn's own parser has such limits, set by
``limit_request_line``, ``limit_request_fields`` and ``limit_request_field_size``. This module gives the
Uvicorn workers the same limits, with the same meaning and defaults, plus a header-read timeout:

- a request line longer than ``limit_request_line`` gets ``414 URI Too Long``;
- more than ``limit_request_fields`` header fields, or one header line longer than
  ``limit_request_field_size`` (CRLF included), gets ``431 Request Header Fields Too Large``;
- a request head that is not complete ``header_timeout`` seconds after the connection was made or after its
  first byte arrived gets ``408 Request Timeout`` (httptools: within a quarter more);
- with the h11 parser, a request with both ``Transfer-Encoding`` and ``Content-Length`` gets ``400`` (h11 would
  frame it by the chunked coding and keep the connection open, so a front end that frames by
  ``Content-Length`` could smuggle a request past it), and an HTTP version other than 1.0 and 1.1 gets ``505``.

Every refusal closes the connection. The limits are checked as the bytes arrive: the URL as the parser hands
over each piece of it, each header field when it is complete, and, while a head is still incomplete, the
length of the line in progress after a read that ends inside a head, so a huge header is refused after one read
past the limit instead of after the parser has buffered all of it. With httptools (the images' parser) the cost
on a request is one length check on the URL and two per header field.

``apply_limits(worker, cfg)`` is called by the image's ``post_fork`` hook (``gunicorn_image.contract``). It swaps the
HTTP protocol class of the worker's ``uvicorn.Config`` (built in ``UvicornWorker.__init__``, before the fork;
loaded in the worker afterwards) for a subclass of Uvicorn's own, so the worker class stays
``uvicorn_worker.UvicornWorker``.

This module imports nothing of ours, and imports Uvicorn only when it is used, so it can be imported in an image
without Uvicorn. It follows uvicorn 0.54.0 (``uvicorn.protocols.http.httptools_impl`` and ``h11_impl``).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_HEADER_TIMEOUT", "HeadLimits", "apply_limits", "protocol_class"]

PRIVATE_NAMES = (
    *(f"uvicorn.protocols.http.httptools_impl.HttpToolsProtocol.{name}" for name in (
        "connection_made", "connection_lost", "data_received", "handle_websocket_upgrade", "on_url",
        "on_headers_complete", "_should_upgrade", "_unset_keepalive_if_required", "_unsupported_upgrade_warning")),
    "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol.__init__#loop",
    "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol.__init__#scope",
    "uvicorn.protocols.http.h11_impl.H11Protocol.connection_made",
    "uvicorn.protocols.http.h11_impl.H11Protocol.connection_lost",
    "uvicorn.protocols.http.h11_impl.H11Protocol.__init__#conn",
    "h11.Connection.next_event",
    "h11.Connection.__init__#_max_incomplete_event_size",
    "h11.Connection.__init__#_receive_buffer",
)

from gunicorn_image.patches import DEFAULT_HEADER_TIMEOUT  # noqa: E402  (the package is loaded already)

# Gunicorn's own bounds (gunicorn/http/message.py), so that a setting means the same here as there.
_MAX_REQUEST_LINE = 8190
_UNLIMITED_REQUEST_LINE = 1024 * 1024  # what Gunicorn's fast parser uses for limit_request_line = 0
_MAX_HEADERS = 32768
_DEFAULT_MAX_HEADERFIELD_SIZE = 8190

# A request line is METHOD SP request-target SP HTTP/x.y. The method is looked up only for a target this close to
# the limit (no method llhttp knows is longer).
_LINE_OVERHEAD = len(" HTTP/1.1") + 1
_LONGEST_METHOD = 32
# A header line is name ": " value CRLF as clients write it (httptools drops the white space, so the one space
# is assumed: a line written without it may be one byte longer than Gunicorn would take).
_FIELD_OVERHEAD = len(": \r\n")
# h11 takes any d.d version (HTTP/2.0, HTTP/9.9), which Gunicorn refuses; so does its protocol here. (llhttp
# refuses all but 0.9, 1.0, 1.1 and 2.0, and checking each request's version would cost it a string per request.)
_HTTP_VERSIONS = frozenset({"1.1", "1.0"})
_BAD_VERSION = (505, "HTTP version not supported.")
# The header-read timer ticks this many times per header_timeout; a timer may fire this much early.
_TICKS = 4
_TIMER_SLACK = 0.01
_FIRST_REQUEST = "first request"  # what a new connection waits for

logger = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class HeadLimits:
    """Limits on one request head, with Gunicorn's meaning.

    ``request_line``: the most bytes of a request line, CRLF excluded. ``fields``: the most header fields.
    ``field_size``: the most bytes of one header line, CRLF included. ``header_timeout``: seconds to read a whole
    request head, or ``None`` for no time limit.
    """

    request_line: int = 4094
    fields: int = 100
    field_size: int = 8190
    header_timeout: float | None = DEFAULT_HEADER_TIMEOUT

    @classmethod
    def from_gunicorn(cls, cfg: Any, header_timeout: float | None = DEFAULT_HEADER_TIMEOUT) -> HeadLimits:
        """The limits a Gunicorn config sets, normalised the way Gunicorn's parser normalises them.

        ``limit_request_line``: 0 is unlimited (1 MiB, as Gunicorn's fast parser), negative or above 8190 is 8190.
        ``limit_request_fields``: 0, negative or above 32768 is 32768. ``limit_request_field_size``: 0 or negative
        is 8190. ``header_timeout``: 0 or ``None`` turns the timer off; negative is an error.
        """
        line = int(cfg.limit_request_line)
        if line == 0:
            line = _UNLIMITED_REQUEST_LINE
        elif line < 0 or line > _MAX_REQUEST_LINE:
            line = _MAX_REQUEST_LINE
        fields = int(cfg.limit_request_fields)
        if fields <= 0 or fields > _MAX_HEADERS:
            fields = _MAX_HEADERS
        field_size = int(cfg.limit_request_field_size)
        if field_size <= 0:
            field_size = _DEFAULT_MAX_HEADERFIELD_SIZE
        if header_timeout is not None:
            header_timeout = float(header_timeout)
            if header_timeout < 0 or header_timeout != header_timeout:
                raise ValueError(
                    f"header_timeout must be 0 (off) or a positive number of seconds, not {header_timeout!r}"
                )
            if header_timeout == 0:
                header_timeout = None
        return cls(request_line=line, fields=fields, field_size=field_size, header_timeout=header_timeout)


def apply_limits(worker: Any, cfg: Any, header_timeout: float | None = DEFAULT_HEADER_TIMEOUT) -> None:
    """Give a Uvicorn worker the request-head limits of Gunicorn config ``cfg`` and a header-read timeout.

    Call it from Gunicorn's ``post_fork(server, worker)`` hook with ``server.cfg``. It does nothing to a worker
    that is not a Uvicorn one (no ``uvicorn.Config`` at ``worker.config``) and leaves alone an HTTP protocol it
    does not know (a class of the user's own, or ``zttp``), saying so in the log.
    """
    config = getattr(worker, "config", None)
    if config is None or not hasattr(config, "http") or not hasattr(config, "loaded"):
        return
    if config.loaded:
        raise RuntimeError("apply_limits() must run before the Uvicorn config is loaded (from post_fork)")
    if getattr(config, "http2", False):
        logger.warning("HTTP/2 is on: the request-head limits are not applied")
        return
    limits = HeadLimits.from_gunicorn(cfg, header_timeout)
    cls = protocol_class(config.http, limits)
    if cls is None:
        logger.warning("Unknown HTTP protocol %r: the request-head limits are not applied", config.http)
        return
    config.http = cls


def protocol_class(http: Any, limits: HeadLimits) -> type | None:
    """The limited protocol class for a ``uvicorn.Config.http`` value, or ``None`` if there is none for it.

    ``"auto"`` means httptools when it is installed, else h11, as in Uvicorn.
    """
    if http == "auto":
        try:
            import httptools  # noqa: F401
        except ImportError:
            http = "h11"
        else:
            http = "httptools"
    if http == "httptools":
        base = _httptools_protocol()
    elif http == "h11":
        base = _h11_protocol()
    elif isinstance(http, type) and getattr(http, "limited_base", None) is not None:
        base = getattr(http, "limited_base")  # already limited (apply_limits called twice): the new limits win
    else:
        return None
    attributes = {"head_limits": limits, "limited_base": base, "__module__": __name__, **_thresholds(limits)}
    return type(base.__name__, (base,), attributes)


def _thresholds(limits: HeadLimits) -> dict[str, Any]:
    """What the protocols compare with, as class attributes."""
    return {
        "_url_room": limits.request_line - _LINE_OVERHEAD - _LONGEST_METHOD,  # a longer URL: count the whole line
        "_max_request_line": limits.request_line,
        "_max_fields": limits.fields,
        "_max_pair": limits.field_size - _FIELD_OVERHEAD,  # longest name + value
        "_max_line": max(limits.request_line, limits.field_size) + 2,  # longest line in progress, with its CRLF
        "_timeout": limits.header_timeout,
    }


class _HeadGuard:
    """A connection's state for the limits and the timer, in one attribute of the protocol.

    Uvicorn's protocol objects already have 28 attributes; past 30, CPython stops sharing the keys of their
    ``__dict__`` and every attribute access in Uvicorn's code gets slower (measured: 2 % of a hello-world request).
    """

    __slots__ = ("timer", "waiting_for", "waiting_since", "line", "line_scope", "check_sizes", "refusal")

    def __init__(self) -> None:
        self.timer: Any = None  # the header-read timer's handle
        self.waiting_for: Any = None  # what the connection was last seen waiting for, and since when
        self.waiting_since = 0.0
        self.line = 0  # length of the head line in progress, across reads
        self.line_scope: Any = None  # the request whose head that line belongs to
        self.check_sizes = False  # a read since the last head was long, or ended inside a head
        self.refusal: tuple[int, str] | None = None  # status and reason chosen in a parser callback


@functools.lru_cache(maxsize=None)
def _httptools_protocol() -> type:
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    on_headers_complete = HttpToolsProtocol.on_headers_complete

    class _Refused(Exception):
        """Raised in a parser callback to stop parsing; the refusal itself is in ``self._guard.refusal``."""

    class LimitedHttpToolsProtocol(HttpToolsProtocol):
        """Uvicorn's httptools protocol with Gunicorn's request-head limits and a header-read timeout.

        A request pays a length check on each read and on its URL and a count of its header fields; their sizes
        are checked only when its head came in several reads or in a read longer than a header line may be
        (a longer line can only be in such a read).

        The timer does not follow each request either: it ticks four times per ``header_timeout`` on each
        connection and reads from Uvicorn's own state what the connection waits for: a head under way
        (``self.scope`` is a request that ``self.cycle`` is not for yet), a first request (no ``self.scope``
        yet), or a request after bytes that came after the last response without starting one (Uvicorn then
        cancelled its keep-alive timer). A wait seen for ``header_timeout`` seconds, so at most a quarter more
        since it began, gets a 408.
        """

        head_limits: HeadLimits = HeadLimits()
        # From head_limits, set by protocol_class(): see _thresholds().
        _url_room = _max_pair = _max_line = _max_request_line = _max_fields = 0
        _timeout: float | None = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._guard = _HeadGuard()

        # Connection events

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if self._timeout is not None:
                guard = self._guard
                guard.waiting_for, guard.waiting_since = _FIRST_REQUEST, self.loop.time()
                guard.timer = self.loop.call_later(self._timeout / _TICKS, self._tick)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            # As Uvicorn's, plus: refuse with the status a parser callback chose, and measure the head line in
            # progress when a read ends inside a head.
            self._unset_keepalive_if_required()
            if len(data) > self._max_pair:
                self._guard.check_sizes = True
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                if self._guard.refusal is not None:
                    self._send_refusal()
                    return
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
                return
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
                return
            scope = self.scope
            if scope is not None and (self.cycle is None or self.cycle.scope is not scope):
                self._count_line(scope, data)

        def _count_line(self, scope: Any, data: bytes) -> None:
            """A read ended inside the head of ``scope``: the bytes after its last LF are the line in progress."""
            guard = self._guard
            guard.check_sizes = True
            if len(self.headers) > self._max_fields:
                self._refuse(431, "Too many request header fields.")
                return
            end = data.rfind(b"\n")
            if scope is not guard.line_scope:
                # The request began in this read; the bytes before it may be the previous body. Count from the
                # next read (the request line is measured exactly by on_url meanwhile).
                guard.line_scope = scope
                guard.line = 0
            elif end < 0:
                guard.line += len(data)
            else:
                guard.line = len(data) - end - 1
            if guard.line > self._max_line:
                self._refuse(431, "Request header field too large.")

        def handle_websocket_upgrade(self) -> None:
            self._cancel_head_timer()
            super().handle_websocket_upgrade()

        # Parser callbacks

        def on_url(self, url: bytes) -> None:
            # As Uvicorn's (not called: one frame less per piece of URL), plus the limit.
            self.url += url
            if len(self.url) > self._url_room:
                line = len(self.parser.get_method()) + len(self.url) + _LINE_OVERHEAD
                if line > self._max_request_line:
                    self._guard.refusal = (414, "Request line too long.")
                    raise _Refused

        def on_headers_complete(self) -> None:
            headers = self.headers
            if len(headers) > self._max_fields:
                self._guard.refusal = (431, "Too many request header fields.")
                raise _Refused
            guard = self._guard
            if guard.check_sizes:
                guard.check_sizes = False
                max_pair = self._max_pair
                for name, value in headers:
                    if len(name) + len(value) > max_pair:
                        guard.refusal = (431, "Request header field too large.")
                        raise _Refused
            on_headers_complete(self)

        # The header-read timer

        def _tick(self) -> None:
            guard = self._guard
            guard.timer = None
            timeout = self._timeout
            if timeout is None or self.transport is None or self.transport.is_closing():
                return
            scope, cycle = self.scope, self.cycle
            waiting_for: Any
            if scope is None:
                waiting_for = _FIRST_REQUEST
            elif cycle is None or cycle.scope is not scope:
                waiting_for = scope  # a head under way
            elif cycle.response_complete and self.timeout_keep_alive_task is None and not self.pipeline:
                waiting_for = cycle  # bytes came after the response but began no request
            else:
                waiting_for = None  # a request is being read or answered, or keep-alive governs
            now = self.loop.time()
            if waiting_for is not guard.waiting_for:
                guard.waiting_for, guard.waiting_since = waiting_for, now
            elif waiting_for is not None and now - guard.waiting_since >= timeout - _TIMER_SLACK:
                if waiting_for is cycle:  # its response is out: an answer now would be unasked for
                    _log_refusal(self, 0, "no request came after the response, only bytes; closed.")
                    self.transport.close()
                else:
                    self._refuse(408, _TIMEOUT_REASON)
                return
            guard.timer = self.loop.call_later(timeout / _TICKS, self._tick)

        def _cancel_head_timer(self) -> None:
            guard = self._guard
            if guard.timer is not None:
                guard.timer.cancel()
                guard.timer = None

        def _refuse(self, status: int, reason: str) -> None:
            self._guard.refusal = (status, reason)
            self._send_refusal()

        def _send_refusal(self) -> None:
            status, reason = self._guard.refusal  # type: ignore[misc]
            _log_refusal(self, status, reason)
            self._cancel_head_timer()
            _refuse(self, status, reason, in_progress=self.cycle is not None and not self.cycle.response_complete)

    return LimitedHttpToolsProtocol


@functools.lru_cache(maxsize=None)
def _h11_protocol() -> type:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class CheckedConnection(h11.Connection):
        """An h11 connection that applies the head limits to each request and refuses CL + TE.

        ``refusal`` is the status and reason for the request being refused, set when ``next_event`` raises:
        the reason is ``None`` when h11 itself refused it (h11 bounds a whole head by its
        ``max_incomplete_event_size``, 16 KiB by default, and gives a status hint).
        """

        def __init__(self, max_incomplete_event_size: int, limits: HeadLimits) -> None:
            super().__init__(h11.SERVER, max_incomplete_event_size=max_incomplete_event_size)
            self.limits = limits
            self.refusal: tuple[int, str | None] | None = None

        def next_event(self) -> Any:
            try:
                event = super().next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                if status == 431 and b"\n" not in bytes(self._receive_buffer):
                    status = 414  # h11's buffer overflowed before the request line ended
                self.refusal = (status, None)
                raise
            if type(event) is h11.Request:
                refusal = self._check(event)
                if refusal is not None:
                    self.refusal = refusal
                    raise h11.RemoteProtocolError(refusal[1], refusal[0])
            return event

        def _check(self, event: Any) -> tuple[int, str] | None:
            limits = self.limits
            if event.http_version.decode("ascii") not in _HTTP_VERSIONS:
                return _BAD_VERSION
            if len(event.method) + len(event.target) + _LINE_OVERHEAD > limits.request_line:
                return (414, "Request line too long.")
            headers = event.headers
            if len(headers) > limits.fields:
                return (431, "Too many request header fields.")
            max_pair = limits.field_size - _FIELD_OVERHEAD
            te = cl = False
            for name, value in headers:
                if len(name) + len(value) > max_pair:
                    return (431, "Request header field too large.")
                if name == b"transfer-encoding":
                    te = True
                elif name == b"content-length":
                    cl = True
            if te and cl:
                # RFC 9112 6.1: a request with both may be an attempt at smuggling; h11 would frame it by the
                # chunked coding and keep the connection open. Refuse it and close.
                return (400, "Both Transfer-Encoding and Content-Length.")
            return None

    class LimitedH11Protocol(H11Protocol):
        """Uvicorn's h11 protocol with Gunicorn's request-head limits, a header-read timeout, and CL + TE refused.

        ``_head_since`` is when the head being read began, ``None`` when no head is being read.
        """

        head_limits: HeadLimits = HeadLimits()

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            max_size = self.conn._max_incomplete_event_size  # as uvicorn chose it from its config
            self.conn = CheckedConnection(max_size, self.head_limits)
            self._timeout = self.head_limits.header_timeout
            self._head_since: float | None = None
            self._head_timer: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._head_since = self.loop.time()  # a new connection owes a request head
            if self._timeout is not None:
                self._head_timer = self.loop.call_later(self._timeout, self._head_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._head_since is None:
                self._head_since = self.loop.time()
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._head_since = None  # no head in progress: a request is being read or answered

        def handle_websocket_upgrade(self, event: Any) -> None:
            self._cancel_head_timer()
            super().handle_websocket_upgrade(event)

        def send_400_response(self, msg: str) -> None:
            # Uvicorn calls this when next_event() raised; answer with the status chosen there.
            status, reason = getattr(self.conn, "refusal", None) or (400, None)
            if reason is not None:
                _log_refusal(self, status, reason)
            self._cancel_head_timer()
            # Once a response has started, an answer would land inside it: then just close.
            _refuse(self, status, reason or msg, in_progress=self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE))

        def _head_timeout(self) -> None:
            self._head_timer = None
            if self.transport is None or self.transport.is_closing():
                return
            left: float = self._timeout  # type: ignore[assignment]
            if self._head_since is not None and self.conn.their_state is h11.IDLE:
                left = self._head_since + left - self.loop.time()
                if left <= _TIMER_SLACK:
                    _log_refusal(self, 408, _TIMEOUT_REASON)
                    _refuse(self, 408, _TIMEOUT_REASON, in_progress=self.conn.our_state is not h11.IDLE)
                    return
            self._head_timer = self.loop.call_later(left, self._head_timeout)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

    return LimitedH11Protocol


_TIMEOUT_REASON = "Request header read timeout."


def _log_refusal(protocol: Any, status: int, reason: str) -> None:
    prefix = "%s:%d - " % protocol.client if protocol.client else ""
    if status:
        protocol.logger.warning("%sRefused with %d: %s", prefix, status, reason)
    else:
        protocol.logger.warning("%s%s", prefix, reason)


def _refuse(protocol: Any, status: int, reason: str, in_progress: bool) -> None:
    """Answer ``status`` with ``reason`` as a plain-text body and close the connection.

    When an earlier (pipelined) response is still ``in_progress`` the answer would land inside it: just close.
    """
    transport = protocol.transport
    if transport.is_closing():
        return
    if not in_progress:
        body = reason.encode("ascii")
        from http import HTTPStatus  # here: building the enum is a cost every start would pay

        try:
            phrase = HTTPStatus(status).phrase.encode("ascii")
        except ValueError:
            phrase = b""
        content = [b"HTTP/1.1 %d %s\r\n" % (status, phrase)]
        for name, value in protocol.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        transport.write(b"".join(content))
    transport.close()


def apply_patch(worker: Any, cfg: Any, header_timeout: float | None) -> None:
    """The entry `gunicorn_image.patches.apply` calls."""
    apply_limits(worker, cfg, header_timeout)
