"""Every image survives hostile HTTP with its default worker (SPEC §6): no worker crash, no hidden request run,
the server healthy after every case, other clients served while a slow or huge one is at work; and the ASGI
images follow Gunicorn's request-head limits and, like org/base's gthread worker, cut off a head that is not read
in time.

The corpus is ``hostile_cases.CASES``; ``hostile_http.run_case`` sends a case and judges it. The images come from
``HOSTILE_IMAGES`` (see ``conftest.py``).
"""

from __future__ import annotations

import socket
import time

import pytest

from docker_support import TEST_PYTHON
from hostile_cases import CASES, HOST, Case
from hostile_http import send_raw, run_case

UVICORN_IMAGES = {"fastapi", "starlette"}  # served by uvicorn_worker.UvicornWorker with the project's limits
HEADER_TIMEOUT_SERVERS = {("fastapi", "asgi"), ("starlette", "asgi"), ("base", "wsgi")}  # ... and gthread
HEADER_TIMEOUT = 10.0  # the images' default HEADER_TIMEOUT


def _failure(server, what: str) -> str:
    return f"{server.image} ({server.app} app): {what}\nlast container logs:\n{server.tail()}"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_server_survives_hostile_request(hostile_server, case: Case) -> None:
    if case.category == "slow" and not hostile_server.full:
        pytest.skip(f"slow clients test the worker model, not the Python: run on Python {TEST_PYTHON} "
                    f"(HOSTILE_IMAGES=<image> runs them on another)")
    result = run_case(*hostile_server, case)
    assert result.passed, _failure(hostile_server, f"{result.summary()}\nwhy this case: {case.why}")


# Gunicorn's limits with their defaults: limit_request_line 4094, limit_request_fields 100,
# limit_request_field_size 8190. Gunicorn's own parser has them; the project's Uvicorn protocol follows them.

def _skip_unless_gunicorn_limits(server) -> None:
    if server.name == "flask":
        pytest.skip("Meinheld's parser has limits of its own; Gunicorn's limits are promised for Gunicorn's and"
                    " Uvicorn's parsers")


def _request(target: bytes = b"/limits", headers: tuple[bytes, ...] = ()) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + HOST + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def _target_for_line(length: int) -> bytes:
    return b"/limits?" + b"a" * (length - len(b"GET /limits? HTTP/1.1"))


@pytest.mark.parametrize("length,status", [(4094, 200), (4095, 414)])
def test_request_line_longer_than_limit_request_line_gets_414_and_close(hostile_server, length, status) -> None:
    _skip_unless_gunicorn_limits(hostile_server)
    responses, ending = send_raw(*hostile_server, _request(_target_for_line(length)))
    statuses = [r.status for r in responses]
    assert statuses[:1] == [status], _failure(hostile_server, f"a {length}-byte request line: expected {status}, "
                                                              f"got {statuses or 'no answer'} ({ending})")
    if status != 200:
        assert ending in ("closed", "reset"), _failure(hostile_server, f"connection left {ending} after {status}")


@pytest.mark.parametrize("count,status", [(100, 200), (101, 431)])
def test_more_header_fields_than_limit_request_fields_get_431_and_close(hostile_server, count, status) -> None:
    _skip_unless_gunicorn_limits(hostile_server)
    fields = tuple(b"X-F%d: v" % i for i in range(count - 1))  # + Host
    responses, ending = send_raw(*hostile_server, _request(headers=fields))
    statuses = [r.status for r in responses]
    assert statuses[:1] == [status], _failure(hostile_server, f"{count} header fields: expected {status}, "
                                                              f"got {statuses or 'no answer'} ({ending})")
    if status != 200:
        assert ending in ("closed", "reset"), _failure(hostile_server, f"connection left {ending} after {status}")


@pytest.mark.parametrize("size,status", [(8190, 200), (8191, 431)])
def test_header_line_longer_than_limit_request_field_size_gets_431_and_close(hostile_server, size, status) -> None:
    _skip_unless_gunicorn_limits(hostile_server)
    field = b"X-Big: " + b"a" * (size - len(b"X-Big: \r\n"))
    responses, ending = send_raw(*hostile_server, _request(headers=(field,)))
    statuses = [r.status for r in responses]
    assert statuses[:1] == [status], _failure(hostile_server, f"a {size}-byte header line: expected {status}, "
                                                              f"got {statuses or 'no answer'} ({ending})")
    if status != 200:
        assert ending in ("closed", "reset"), _failure(hostile_server, f"connection left {ending} after {status}")


def test_head_not_read_within_header_timeout_gets_408_and_close(hostile_server) -> None:
    if (hostile_server.name, hostile_server.app) not in HEADER_TIMEOUT_SERVERS:
        pytest.skip("HEADER_TIMEOUT is the project's, for the Uvicorn and gthread workers; Meinheld and Gunicorn's "
                    "asgi worker read heads without holding a thread")
    if not hostile_server.full:
        pytest.skip(f"a 10 s wait that tests the worker model, not the Python: run on Python {TEST_PYTHON}")
    host, port = hostile_server
    with socket.create_connection((host, port), timeout=HEADER_TIMEOUT + 5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /slow HTTP/1.1\r\n" + HOST + b"X-Slow: 1\r\n")
        data = b""
        try:
            while chunk := sock.recv(4096):  # bounded: the socket times out after HEADER_TIMEOUT + 5 s
                data += chunk
        except (TimeoutError, socket.timeout):
            pytest.fail(_failure(hostile_server, f"an incomplete head was still open after "
                                                 f"{time.monotonic() - started:.1f}s"))
        except ConnectionResetError:
            pass
        took = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408 "), _failure(hostile_server, f"expected a 408 answer, got {data[:200]!r}")
    assert HEADER_TIMEOUT - 1 <= took <= HEADER_TIMEOUT + 3, _failure(
        hostile_server, f"closed after {took:.1f}s, expected about {HEADER_TIMEOUT:.0f}s")
