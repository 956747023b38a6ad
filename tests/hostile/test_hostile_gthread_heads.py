"""gthread workers read request heads on their main loop (``shared/gunicorn_image/patches/gthread_heads.py``), without Docker.

A real Gunicorn gthread worker with one thread on loopback, wired as the images wire it (``post_fork`` calls
``gthread_heads.apply``): clients that stop mid-head no longer hold the thread, the header-read timeout,
keep-alive, pipelining and bodies left as they were, Gunicorn's limits still answered, a graceful stop with a
head pending, and the corpus but for its slow clients (the image tests run those).
"""

from __future__ import annotations

import http.client
import signal
import socket
import sys
import time

import pytest

pytest.importorskip("gunicorn", reason="gunicorn is not installed here (the base image has it)")

from hostile_cases import CASES, HOST  # noqa: E402
from hostile_http import parse_responses, run_case, send_raw  # noqa: E402
from loopback_gunicorn import ROOT, log_tail, loopback_gunicorn, trickle_head  # noqa: E402

sys.path.insert(0, str(ROOT / "shared"))

# A server in this process, judged on timing (a head cut off within HEADER_TIMEOUT + 1.5 s, another client answered
# within 0.5 s): `make test` runs it with nothing beside it.
pytestmark = pytest.mark.alone

HEADER_TIMEOUT = 1.5
KEEP_ALIVE = 5
STALLED_CLIENTS = 8  # more than the worker's threads (1)
CONFIG = f"""
from gunicorn_image.patches import gthread_heads

def post_fork(server, worker):
    gthread_heads.apply(worker, {HEADER_TIMEOUT})
"""


@pytest.fixture(scope="module")
def gthread_server(tmp_path_factory):
    args = ["-k", "gthread", "--threads", "1", "--keep-alive", str(KEEP_ALIVE), "--graceful-timeout", "10"]
    with loopback_gunicorn(tmp_path_factory.mktemp("gthread"), CONFIG, args, "wsgi") as server:
        yield server


def _get(server, timeout: float = 3.0) -> tuple[int | None, float]:
    """(status, seconds) of one GET on a new connection."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        connection.request("GET", "/__pid")
        status = connection.getresponse().status
    except OSError:
        status = None
    finally:
        connection.close()
    return status, time.monotonic() - started


def _read_all(sock: socket.socket, until: float) -> bytes:
    data = b""
    while time.monotonic() < until:
        sock.settimeout(max(0.05, until - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def test_clients_stopped_mid_head_do_not_hold_the_thread(gthread_server) -> None:
    stalled = [socket.create_connection((gthread_server.host, gthread_server.port)) for _ in range(STALLED_CLIENTS)]
    try:
        for sock in stalled:
            sock.sendall(b"GET /stalled HTTP/1.1\r\n" + HOST + b"X-Half: ")
        time.sleep(0.2)
        status, took = _get(gthread_server)
        assert status == 200 and took < 0.5, f"another client got {status} after {took:.2f}s\n" \
                                             f"{log_tail(gthread_server.log)}"
    finally:
        for sock in stalled:
            sock.close()


def test_head_not_complete_in_time_gets_408_and_close(gthread_server) -> None:
    data, took = trickle_head(gthread_server, HEADER_TIMEOUT + 4)
    assert data.startswith(b"HTTP/1.1 408 "), f"got {data[:200]!r} after {took:.1f}s"
    assert HEADER_TIMEOUT - 0.2 <= took <= HEADER_TIMEOUT + 1.5, f"closed after {took:.1f}s"


def test_fresh_connection_without_bytes_is_closed_after_header_timeout(gthread_server) -> None:
    with socket.create_connection((gthread_server.host, gthread_server.port)) as sock:
        started = time.monotonic()
        data = _read_all(sock, started + HEADER_TIMEOUT + 5)
        took = time.monotonic() - started
    assert not data.startswith(b"HTTP/1.1 2") and HEADER_TIMEOUT - 0.2 <= took <= HEADER_TIMEOUT + 1.5, \
        f"got {data[:100]!r} after {took:.1f}s"


def test_keep_alive_pipelining_and_bodies_still_work(gthread_server) -> None:
    with socket.create_connection((gthread_server.host, gthread_server.port), timeout=5) as sock:
        sock.sendall(b"GET /__pid HTTP/1.1\r\n" + HOST + b"\r\n")
        assert parse_responses(_read_all(sock, time.monotonic() + 1), closed=False)[0][0].status == 200
        time.sleep(HEADER_TIMEOUT + 1.0)  # idle between requests: keep-alive governs, not the header timeout
        body = b"x" * 200000  # more than one read of the head reader: the rest comes from the thread
        pipelined = (b"POST /body HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n\r\n" % len(body) + body
                     + b"GET /second HTTP/1.1\r\n" + HOST + b"\r\n")
        sock.sendall(pipelined)
        responses, _ = parse_responses(_read_all(sock, time.monotonic() + 2), closed=False)
    assert [r.status for r in responses] == [200, 200], responses
    assert responses[0].json()["body_len"] == len(body) and responses[1].json()["path"] == "/second"


def test_partial_head_pipelined_behind_a_request_does_not_hold_the_thread(gthread_server) -> None:
    with socket.create_connection((gthread_server.host, gthread_server.port), timeout=5) as sock:
        sock.sendall(b"GET /first HTTP/1.1\r\n" + HOST + b"\r\nGET /second HTTP/1.1\r\n" + HOST)
        first = parse_responses(_read_all(sock, time.monotonic() + 0.5), closed=False)[0]
        status, took = _get(gthread_server)
        sock.sendall(b"\r\n")
        second = parse_responses(_read_all(sock, time.monotonic() + 0.5), closed=False)[0]
    assert [r.status for r in first] == [200], first
    assert status == 200 and took < 0.5, f"another client got {status} after {took:.2f}s"
    assert [r.json()["path"] for r in second] == ["/second"], second


@pytest.mark.parametrize("raw,status", [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414),
    (b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 200000, 431),  # refused before the head ends
])
def test_gunicorns_limits_still_answer(gthread_server, raw, status) -> None:
    responses, ending = send_raw(gthread_server.host, gthread_server.port, raw)
    assert [r.status for r in responses][:1] == [status] or (ending in ("closed", "reset") and not responses
                                                            and status == 431), (responses, ending)


def test_graceful_stop_with_a_head_pending_ends_in_time(tmp_path) -> None:
    args = ["-k", "gthread", "--threads", "1", "--graceful-timeout", "20"]
    with loopback_gunicorn(tmp_path, CONFIG.replace(str(HEADER_TIMEOUT), "30"), args, "wsgi") as server:
        with socket.create_connection((server.host, server.port)) as idle, \
                socket.create_connection((server.host, server.port)) as partial:
            partial.sendall(b"GET /stop HTTP/1.1\r\n")
            time.sleep(0.3)
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(timeout=15)
            took = time.monotonic() - started
            assert idle.fileno() >= 0
    assert server.process.returncode == 0 and took < 6, f"exit {server.process.returncode} after {took:.1f}s\n" \
                                                         f"{log_tail(server.log)}"


def test_request_on_a_connection_made_before_a_graceful_stop_is_served(tmp_path) -> None:
    """A client that connected before the stop and sends its request just after it (a SIGHUP or a rolling
    restart under load) gets its answer, as on Gunicorn's own kept-alive connections, not a dropped connection."""
    args = ["-k", "gthread", "--threads", "1", "--graceful-timeout", "20"]
    with loopback_gunicorn(tmp_path, CONFIG, args, "wsgi") as server:
        with socket.create_connection((server.host, server.port), timeout=5) as early:
            time.sleep(0.3)  # the idle worker accepts at once; a connection still in the backlog would fail anyway
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the worker is stopping now
            early.sendall(b"GET /late HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n")
            answer = _read_all(early, time.monotonic() + 5)
        server.process.wait(timeout=15)
    assert answer.startswith(b"HTTP/1.1 200 "), f"got {answer[:200]!r}\n{log_tail(server.log)}"


@pytest.mark.parametrize("case", [c for c in CASES if c.category != "slow"], ids=lambda c: c.id)
def test_gthread_passes_the_corpus(gthread_server, case) -> None:
    result = run_case(gthread_server.host, gthread_server.port, case)
    assert result.passed, f"{result.summary()}\n{case.why}\n{log_tail(gthread_server.log)}"
