"""Send one case of the hostile-HTTP corpus to a server and judge what happened.

``run_case(host, port, case)`` sends the case's raw bytes over a plain socket (every step bounded in time and
count), reads every answer, and returns a ``Result`` that says whether it passed and why not. Besides what the
case expects (``hostile_cases``), every case must leave:

- no crashed worker: the worker's process id (``GET /__pid``) is the same before and after, and ``GET /__pid``
  answers 200 afterwards; where ``/__pid`` gives no process id (several workers, say), a connection reset with
  no answer to a small request counts as a crash;
- no hidden request run: the app (``GET /__requests?match=...``) never served ``/smuggled-<nonce>``, and no
  answer on the case's connection names that path;
- other clients served: while a slow, streaming or flooding client is at work, a ``GET /`` from another
  connection every half second answers 200 within ``PROBE_LIMIT`` seconds (one answer up to twice as late is let
  go unless the next is late too: on a loaded 2-core machine a blip happens; a stall makes answers late one
  after another, or very late, or never come, as the slow clients last at least 6 s).

It needs the fixture app of ``tests/hostile/app`` (``/``, ``/__pid``, ``/__requests``, and a JSON echo of
everything else), and only the standard library, so it can be run by hand::

    python tests/hostile/hostile_http.py 127.0.0.1 8080 [case-id-substring ...]
"""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from hostile_cases import CASES, CONNECTIONS, NONCE, REFUSE, SEND, SERVE, STREAM, TRICKLE, Case

PROBE_LIMIT = 2.0  # seconds a concurrent GET / may take while a hostile client is at work
PROBE_EVERY = 0.5
HEALTH_WAIT = 5.0  # seconds the server has to answer GET /__pid before and after a case
RECOVERY_WAIT = 30.0  # after a failed health check, how long to wait for the server to come back
FIRST_ANSWER_WAIT = 2.0  # seconds to wait for a first answer once everything was sent
SETTLE = 0.5  # seconds of quiet after the last bytes received before a connection is taken as done
CASE_CAP = 60.0  # no case runs longer than this
SMALL_REQUEST = 8192  # a server has read all of a request this small before it answers


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict | None:
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@dataclass
class Result:
    case: str
    passed: bool = True
    problems: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers on the case's connection, in order
    ending: str = ""  # how that connection ended: closed, reset, open (we stopped waiting), connect-failed
    sent: int = 0
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)
    nonce: str = ""

    def fail(self, problem: str) -> None:
        self.passed = False
        self.problems.append(problem)

    def summary(self) -> str:
        lines = [f"case {self.case}: {'passed' if self.passed else 'FAILED'} in {self.elapsed:.1f}s; "
                 f"answers {self.statuses or 'none'}, connection {self.ending or '?'}, {self.sent} bytes sent"]
        lines += [f"  problem: {problem}" for problem in self.problems]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


# --- reading answers ----------------------------------------------------------------------------------------------


def parse_responses(data: bytes, closed: bool) -> tuple[list[Response], bytes]:
    """The complete HTTP/1.x responses at the start of ``data``, and what is left over.

    ``closed``: the connection has ended, so a response without a length ends here.
    """
    responses = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        lines = data[:end].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            break
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        rest = data[end + 4:]
        if 100 <= status < 200 or status in (204, 304):
            body, data = b"", rest
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, left = _dechunk(rest)
            if left is None:
                break
            data = left
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if len(rest) < length:
                break
            body, data = rest[:length], rest[length:]
        elif closed:
            body, data = rest, b""
        else:
            break
        if not 100 <= status < 200:
            responses.append(Response(status, headers, body))
    return responses, data


def _dechunk(data: bytes) -> tuple[bytes, bytes | None]:
    body = b""
    while True:
        end = data.find(b"\r\n")
        if end < 0:
            return body, None
        size = int(data[:end].split(b";")[0] or b"0", 16)
        if size == 0:
            trailer_end = data.find(b"\r\n\r\n", end)
            if trailer_end == end:
                return body, data[end + 4:]
            if trailer_end < 0:
                return body, None
            return body, data[trailer_end + 4:]
        if len(data) < end + 2 + size + 2:
            return body, None
        body += data[end + 2:end + 2 + size]
        data = data[end + 2 + size + 2:]


# --- small helpers on the side channel ----------------------------------------------------------------------------


def http_get(host: str, port: int, path: str, timeout: float) -> tuple[int, bytes]:
    """A plain GET on a new connection: (status, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def worker_pid(host: str, port: int, timeout: float = HEALTH_WAIT) -> tuple[bool, int | None, str]:
    """Poll ``GET /__pid`` until it answers 200 or ``timeout`` passes: (healthy, pid or None, last error)."""
    deadline = time.monotonic() + timeout
    error = ""
    while True:
        left = deadline - time.monotonic()
        try:
            status, body = http_get(host, port, "/__pid", timeout=max(0.5, min(2.0, left)))
            if status == 200:
                text = body.decode("latin-1").strip()
                return True, int(text) if text.isdigit() else None, ""
            error = f"GET /__pid answered {status}"
        except (OSError, http.client.HTTPException) as exc:
            error = f"GET /__pid failed: {exc!r}"
        if time.monotonic() + 0.1 >= deadline:
            return False, None, error
        time.sleep(0.1)


def served(host: str, port: int, match: str) -> list[str]:
    """The requests the app served whose path contains ``match`` (``METHOD PATH`` lines)."""
    status, body = http_get(host, port, "/__requests?match=" + quote(match), timeout=5.0)
    if status != 200:
        raise RuntimeError(f"GET /__requests answered {status}")
    return body.decode("latin-1").splitlines()


class Probes:
    """Another client: ``GET /`` on a new connection every ``every`` s; each must answer 200 within ``limit`` s."""

    def __init__(self, host: str, port: int, every: float = PROBE_EVERY, limit: float = PROBE_LIMIT) -> None:
        self.host, self.port, self.every, self.limit = host, port, every, limit
        self.count = 0
        self.slowest = 0.0
        self.failures: list[str] = []
        self._late = ""  # the last probe's lateness, if it was late
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostile-probes", daemon=True)

    def __enter__(self) -> Probes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=3 * self.limit + 5)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < CASE_CAP:
            begin = time.monotonic()
            try:
                status, _ = http_get(self.host, self.port, "/", timeout=3 * self.limit)
                took = time.monotonic() - begin
                if status != 200:
                    self.failures.append(f"GET / answered {status} (at {begin - started:.1f}s)")
                elif took > 2 * self.limit:
                    self.failures.append(f"GET / took {took:.1f}s (at {begin - started:.1f}s)")
                elif took > self.limit:
                    late = f"GET / took {took:.1f}s (at {begin - started:.1f}s)"
                    if self._late:
                        self.failures.append(f"{self._late}, then {late}")
                    self._late = late
                else:
                    self._late = ""
            except (OSError, http.client.HTTPException) as exc:
                took = time.monotonic() - begin
                self.failures.append(f"GET / failed after {took:.1f}s (at {begin - started:.1f}s): {exc!r}")
            self.count += 1
            self.slowest = max(self.slowest, took)
            self._stop.wait(max(0.0, self.every - took))


# --- one connection ------------------------------------------------------------------------------------------------


class Exchange:
    """One client connection: send while reading, then read until the server is quiet or gone."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=5.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.received = b""
        self.sent = 0
        self.ending = ""  # closed / reset once the server ended the connection

    def send(self, chunks: Iterable[bytes], deadline: float, stop_on_answer: bool = False) -> bool:
        """Send every chunk, reading meanwhile; False if the server ended the connection (or answered, with
        ``stop_on_answer``) before everything was sent, or ``deadline`` came first."""
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                if time.monotonic() > deadline:
                    return False
                readable, writable, _ = select.select([self.sock], [self.sock], [], 0.5)
                if readable:
                    self.read_once()
                    if self.ending or (stop_on_answer and self.received):
                        return False
                if writable:
                    try:
                        n = self.sock.send(view[:65536])
                    except BlockingIOError:
                        continue
                    except (BrokenPipeError, ConnectionResetError):
                        self.ending = self.ending or "reset"
                        return False
                    self.sent += n
                    view = view[n:]
        return True

    def read(self, deadline: float, first_wait: float = FIRST_ANSWER_WAIT, settle: float = SETTLE) -> None:
        """Read until the server ends the connection, or is quiet for ``settle`` s after its last bytes
        (``first_wait`` s before any), or ``deadline``."""
        last = time.monotonic()
        while not self.ending:
            now = time.monotonic()
            quiet = (settle if self.received else first_wait) - (now - last)
            wait = min(quiet, deadline - now)
            if wait <= 0:
                break
            readable, _, _ = select.select([self.sock], [], [], wait)
            if readable and self.read_once():
                last = time.monotonic()
        self.ending = self.ending or "open"

    def read_once(self) -> bool:
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            self.ending = "reset"
            return False
        if not data:
            self.ending = "closed"
            return False
        self.received += data
        return True

    def close(self) -> None:
        self.sock.close()


# --- the cases -----------------------------------------------------------------------------------------------------


def run_case(host: str, port: int, case: Case) -> Result:
    """Send ``case`` to the server at ``host:port`` and judge the outcome (see the module's docstring)."""
    nonce = uuid.uuid4().hex[:12]
    result = Result(case.id, nonce=nonce)
    started = time.monotonic()
    try:
        _run(host, port, case, nonce, result)
    finally:
        result.elapsed = time.monotonic() - started
    return result


def _run(host: str, port: int, case: Case, nonce: str, result: Result) -> None:
    healthy, pid_before, error = worker_pid(host, port)
    if not healthy:
        result.fail(f"server not healthy before the case: {error}")
        return
    raw = case.raw.replace(NONCE, nonce.encode())
    piece = case.piece.replace(NONCE, nonce.encode())
    deadline = time.monotonic() + CASE_CAP
    probes = Probes(host, port) if case.kind in (TRICKLE, STREAM, CONNECTIONS) else None

    responses: list[Response] = []
    refused_early = False
    with probes if probes else contextlib.nullcontext():
        try:
            if case.kind == SEND:
                responses = _send(host, port, raw, deadline, result)
            elif case.kind == STREAM:
                responses, refused_early = _stream(host, port, raw, piece, case, deadline, result)
            elif case.kind == TRICKLE:
                responses = _trickle(host, port, raw, piece, case, result)
            elif case.kind == CONNECTIONS:
                _connections(host, port, raw, case, result)
            else:
                raise ValueError(f"unknown kind {case.kind!r}")
        except OSError as exc:
            result.ending = result.ending or "connect-failed"
            result.fail(f"could not talk to the server: {exc!r}")
    result.statuses = [response.status for response in responses]

    # No crash, server healthy afterwards.
    healthy, pid_after, error = worker_pid(host, port)
    if not healthy:
        result.fail(f"server not healthy after the case: {error}")
        back = time.monotonic()
        healthy, pid_after, _ = worker_pid(host, port, timeout=RECOVERY_WAIT)
        result.notes.append(f"server back after {time.monotonic() - back:.1f}s" if healthy
                            else f"server still down after {RECOVERY_WAIT:.0f}s")
    if pid_before is not None and pid_after is not None and pid_after != pid_before:
        result.fail(f"the worker was replaced during the case (pid {pid_before} -> {pid_after}): it crashed")
    small = case.kind == SEND and len(raw) <= SMALL_REQUEST and result.sent == len(raw)
    if pid_before is None and small and result.ending == "reset" and not responses:
        result.fail("connection reset with no answer to a small request: the worker crashed")
    elif result.ending == "reset" and not responses:
        result.notes.append("connection reset with no answer (the worker stayed up)")

    # Others served meanwhile.
    if probes:
        result.notes.append(f"{probes.count} concurrent GET / probes, slowest {probes.slowest:.2f}s")
        for failure in probes.failures[:5]:
            result.fail(f"another client was not served in time: {failure}")

    # No hidden request run.
    hidden = "/smuggled-" + nonce
    ran = served(host, port, hidden) if healthy else []
    echoed = [r for r in responses if (r.json() or {}).get("path") == hidden]
    if ran or echoed:
        result.fail(f"the hidden request ran: the app served {ran or [hidden]}")

    _judge_expectation(host, port, case, nonce, responses, refused_early, healthy, result)


def _judge_expectation(host: str, port: int, case: Case, nonce: str, responses: list[Response],
                       refused_early: bool, healthy: bool, result: Result) -> None:
    first = responses[0] if responses else None
    answer = f"{first.status}" if first else f"no answer (connection {result.ending})"
    target = "/t-" + nonce
    if case.expect == SERVE and (first is None or first.status != 200):
        result.fail(f"a valid request should be served with 200; got {answer}")
    if case.expect == REFUSE:
        target_served = served(host, port, target) if healthy else []
        if target_served:
            result.fail(f"should be refused, but the app served it: {target_served[:3]}")
        elif first is not None and first.status < 400:
            result.fail(f"should be refused, but was answered {first.status}")
        elif first is not None and case.status_in and first.status not in case.status_in:
            result.fail(f"refused with {first.status}, expected one of {list(case.status_in)}")
        elif case.kind == STREAM and first is None and not refused_early:
            result.fail("should be refused, but the server took the whole stream without answering")
    for path in case.must_serve:
        path = path.replace(NONCE, nonce.encode()).decode("latin-1")
        if healthy and not served(host, port, path):
            result.fail(f"the app should have served {path} (a valid pipelined request) but did not")
    echo = first.json() if first is not None and first.status == 200 else None
    if echo is not None:
        seen = echo.get("headers", {})
        if case.body_len is not None and echo.get("body_len") != case.body_len:
            result.fail(f"the app read a body of {echo.get('body_len')} bytes, expected {case.body_len}")
        for name in case.app_must_not_see:
            if name in seen:
                result.fail(f"the app saw a header {name!r} = {seen[name]!r} it must not see")
        for name, value in case.app_sees:
            if name in seen and seen[name] != value:
                result.fail(f"the app saw {name!r} = {seen[name]!r}, expected {value!r}")
        if case.app_path is not None:
            path = case.app_path.replace(NONCE, nonce.encode()).decode("latin-1")
            if echo.get("path") != path:
                result.fail(f"the app saw the path {echo.get('path')!r}, expected {path!r}")
    elif first is not None and first.status == 200 and (
            case.body_len is not None or case.app_sees or case.app_path is not None):
        result.notes.append("the answer was not the fixture app's JSON echo")


def send_raw(host: str, port: int, raw: bytes, first_wait: float = FIRST_ANSWER_WAIT,
             cap: float = CASE_CAP) -> tuple[list[Response], str]:
    """Send ``raw`` on a new connection and read every answer: (answers, how the connection ended)."""
    result = Result("raw")
    responses = _send(host, port, raw, time.monotonic() + cap, result, first_wait)
    return responses, result.ending


def _send(host: str, port: int, raw: bytes, deadline: float, result: Result,
          first_wait: float = FIRST_ANSWER_WAIT) -> list[Response]:
    conn = Exchange(host, port)
    try:
        conn.send(_pieces(raw), deadline)
        conn.read(deadline, first_wait=first_wait)
        result.sent, result.ending = conn.sent, conn.ending
        return parse_responses(conn.received, closed=conn.ending != "open")[0]
    finally:
        conn.close()


def _pieces(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _stream(host: str, port: int, raw: bytes, piece: bytes, case: Case, deadline: float,
            result: Result) -> tuple[list[Response], bool]:
    """Send ``raw`` then ``piece`` over and over up to ``case.total`` bytes; stop at the first answer."""
    def chunks() -> Iterator[bytes]:
        yield raw
        for _ in range(max(0, case.total - len(raw)) // len(piece)):
            yield piece

    conn = Exchange(host, port)
    started = time.monotonic()
    try:
        complete = conn.send(chunks(), min(deadline, started + case.duration), stop_on_answer=True)
        took = time.monotonic() - started
        conn.read(time.monotonic() + 5.0)
        result.sent, result.ending = conn.sent, conn.ending
        how = "took all of it" if complete else "stopped it"
        result.notes.append(f"the server {how} after {conn.sent} bytes in {took:.1f}s")
        responses = parse_responses(conn.received, closed=conn.ending != "open")[0]
        return responses, not complete and (conn.ending in ("closed", "reset") or bool(responses))
    finally:
        conn.close()


def _trickle(host: str, port: int, raw: bytes, piece: bytes, case: Case, result: Result) -> list[Response]:
    """Send ``raw``, then ``piece`` every ``case.interval`` s for ``case.duration`` s, noting if the server ends it."""
    conn = Exchange(host, port)
    started = time.monotonic()
    try:
        conn.send([raw], started + 5.0)
        while time.monotonic() - started < case.duration and not conn.ending and not conn.received:
            readable, _, _ = select.select([conn.sock], [], [], case.interval)
            if readable:
                conn.read_once()
                continue
            conn.send([piece], time.monotonic() + 2.0)
        if conn.ending or conn.received:
            took = time.monotonic() - started
            result.notes.append(f"the server answered or closed the slow client after {took:.1f}s")
        conn.read(time.monotonic() + 1.0, first_wait=0.2)
        result.sent, result.ending = conn.sent, conn.ending
        return parse_responses(conn.received, closed=conn.ending != "open")[0]
    finally:
        conn.close()


def _connections(host: str, port: int, raw: bytes, case: Case, result: Result) -> None:
    """Open ``case.count`` connections that each send ``raw``, hold them ``case.duration`` s, then close them."""
    socks: list[socket.socket] = []
    started = time.monotonic()
    try:
        for _ in range(case.count):
            if time.monotonic() - started > 10.0:
                result.notes.append(f"opened only {len(socks)} connections in 10s")
                break
            sock = socket.create_connection((host, port), timeout=2.0)
            socks.append(sock)
            if raw:
                sock.sendall(raw)
                result.sent += len(raw)
        time.sleep(case.duration)  # the probes run meanwhile; nothing to poll for here
        ended = answered = 0
        for sock in socks:
            sock.setblocking(False)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                ended += 1
                continue
            if data:
                answered += 1
            else:
                ended += 1
        result.ending = "open"
        result.notes.append(f"{len(socks)} connections: {answered} answered, {ended} ended by the server")
    finally:
        for sock in socks:
            sock.close()


def main(argv: list[str]) -> int:
    host, port, *wanted = argv
    failed = 0
    for case in CASES:
        if wanted and not any(word in case.id for word in wanted):
            continue
        result = run_case(host, int(port), case)
        failed += not result.passed
        print(result.summary(), flush=True)
    print(f"{failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
