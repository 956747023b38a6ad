"""The project's request-head limits for Uvicorn workers (``shared/gunicorn_image/patches/uvicorn_limits.py``), without Docker.

Unit tests of how Gunicorn's settings become limits and how ``apply_limits`` swaps the protocol; then a real
Gunicorn + ``uvicorn_worker`` server on loopback, wired as the images wire it (``post_fork`` calls
``apply_limits``), for the httptools and the h11 protocol: the limits at their boundaries, the header-read
timeout, keep-alive left alone, and the corpus but for its slow clients (the image tests run those).

Needs gunicorn, uvicorn, uvicorn-worker, httptools and h11 in the test environment; skipped, saying so, without.
"""

from __future__ import annotations

import socket
import sys
import time
from types import SimpleNamespace

import pytest

for _module in ("gunicorn", "uvicorn", "uvicorn_worker", "httptools", "h11"):
    pytest.importorskip(_module, reason=f"{_module} is not installed here (the fastapi image has it)")

from hostile_cases import CASES, HOST  # noqa: E402
from hostile_http import Response, parse_responses, run_case, send_raw  # noqa: E402
from loopback_gunicorn import ROOT, log_tail, loopback_gunicorn, trickle_head  # noqa: E402

sys.path.insert(0, str(ROOT / "shared"))
from gunicorn_image.patches import uvicorn_limits  # noqa: E402

# A server in this process, judged on timing (a head cut off within HEADER_TIMEOUT + 1.5 s): `make test` runs it
# with nothing beside it.
pytestmark = pytest.mark.alone

HEADER_TIMEOUT = 1.5
KEEP_ALIVE = 5
CONFIG = f"""
from gunicorn_image.patches.uvicorn_limits import apply_limits

def post_fork(server, worker):
    apply_limits(worker, server.cfg, {HEADER_TIMEOUT})
"""
WORKERS = {"httptools": "uvicorn_worker.UvicornWorker", "h11": "uvicorn_worker.UvicornH11Worker"}
# What h11 lets through that the corpus refuses, and the limits cannot cheaply change.
H11_KNOWN = {
    "framing-chunk-ext-nul": "h11 does not look inside chunk extensions",
    "framing-chunk-ext-bare-cr": "h11 does not look inside chunk extensions",
}


def gunicorn_cfg(line: int = 4094, fields: int = 100, field_size: int = 8190) -> SimpleNamespace:
    return SimpleNamespace(limit_request_line=line, limit_request_fields=fields, limit_request_field_size=field_size)


# --- units ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings,expected", [
    ((4094, 100, 8190), (4094, 100, 8190)),
    ((0, 0, 0), (1024 * 1024, 32768, 8190)),  # 0: unlimited line (1 MiB, as Gunicorn), most fields, default size
    ((-1, -1, -1), (8190, 32768, 8190)),
    ((9000, 40000, 20000), (8190, 32768, 20000)),  # Gunicorn's caps
    ((200, 10, 300), (200, 10, 300)),
])
def test_limits_mean_what_gunicorns_settings_mean(settings, expected) -> None:
    limits = uvicorn_limits.HeadLimits.from_gunicorn(gunicorn_cfg(*settings))
    assert (limits.request_line, limits.fields, limits.field_size) == expected


@pytest.mark.parametrize("given,expected", [(10, 10.0), ("2.5", 2.5), (0, None), (None, None)])
def test_header_timeout_zero_or_none_turns_the_timer_off(given, expected) -> None:
    assert uvicorn_limits.HeadLimits.from_gunicorn(gunicorn_cfg(), given).header_timeout == expected


def test_negative_header_timeout_is_an_error() -> None:
    with pytest.raises(ValueError, match="header_timeout"):
        uvicorn_limits.HeadLimits.from_gunicorn(gunicorn_cfg(), -1)


def _uvicorn_worker(http: str) -> SimpleNamespace:
    from uvicorn.config import Config

    return SimpleNamespace(config=Config(app=None, http=http, log_config=None))


@pytest.mark.parametrize("http,base", [
    ("auto", "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol"),
    ("httptools", "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol"),
    ("h11", "uvicorn.protocols.http.h11_impl.H11Protocol"),
])
def test_apply_limits_gives_a_uvicorn_worker_a_limited_protocol(http, base) -> None:
    worker = _uvicorn_worker(http)
    uvicorn_limits.apply_limits(worker, gunicorn_cfg(200, 10, 300), 3)
    cls = worker.config.http
    bases = {f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__}
    assert base in bases, f"{cls} does not derive from {base}: {bases}"
    assert cls.head_limits == uvicorn_limits.HeadLimits(200, 10, 300, 3.0)
    uvicorn_limits.apply_limits(worker, gunicorn_cfg(), None)  # again: the new limits win, no double wrapping
    assert worker.config.http.head_limits == uvicorn_limits.HeadLimits(4094, 100, 8190, None)
    assert worker.config.http.__mro__[1:] == cls.__mro__[1:]


def test_apply_limits_leaves_other_workers_and_unknown_protocols_alone() -> None:
    plain = SimpleNamespace(cfg=gunicorn_cfg())
    uvicorn_limits.apply_limits(plain, gunicorn_cfg())
    assert not hasattr(plain, "config")
    worker = _uvicorn_worker("some.module:Protocol")
    uvicorn_limits.apply_limits(worker, gunicorn_cfg())
    assert worker.config.http == "some.module:Protocol"


def test_apply_limits_after_the_config_is_loaded_is_an_error() -> None:
    worker = _uvicorn_worker("h11")
    worker.config.loaded = True
    with pytest.raises(RuntimeError, match="post_fork"):
        uvicorn_limits.apply_limits(worker, gunicorn_cfg())


# --- a real server ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(WORKERS))
def limited_server(request, tmp_path_factory):
    """Gunicorn + the Uvicorn worker for one parser, with the project's post_fork hook, on a loopback port."""
    parser = request.param
    args = ["-k", WORKERS[parser], "--keep-alive", str(KEEP_ALIVE)]
    with loopback_gunicorn(tmp_path_factory.mktemp(f"uvicorn-{parser}"), CONFIG, args, "asgi") as server:
        server.parser = parser
        yield server


def _head(target: bytes = b"/limits", headers: tuple[bytes, ...] = ()) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + HOST + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def _read_response(sock: socket.socket) -> Response:
    """One whole response from a blocking socket (the socket's timeout bounds each read)."""
    data = b""
    for _ in range(100):
        chunk = sock.recv(65536)
        data += chunk
        responses, _ = parse_responses(data, closed=not chunk)
        if responses or not chunk:
            break
    assert responses, f"no whole response in {data[:200]!r}"
    return responses[0]


def _tail(server) -> str:
    return log_tail(server.log)


def _check(server, raw: bytes, status: int, what: str) -> None:
    responses, ending = send_raw(server.host, server.port, raw)
    statuses = [r.status for r in responses]
    assert statuses[:1] == [status], f"{server.parser}: {what}: expected {status}, got {statuses} ({ending})\n" \
                                     f"{_tail(server)}"
    if status != 200:
        assert ending in ("closed", "reset"), f"{server.parser}: {what}: connection left {ending} after {status}"


@pytest.mark.parametrize("length,status", [(4094, 200), (4095, 414), (8190, 414), (100000, 414)])
def test_request_line_limit(limited_server, length, status) -> None:
    _check(limited_server, _head(b"/limits?" + b"a" * (length - len(b"GET /limits? HTTP/1.1"))), status,
           f"a {length}-byte request line")


def test_request_line_limit_counts_the_method(limited_server) -> None:
    target = b"/limits?" + b"a" * (4094 - len(b"GET /limits? HTTP/1.1"))  # 4094 with GET: 4097 with DELETE
    _check(limited_server, b"DELETE " + target + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414, "DELETE + 4094-byte line")


@pytest.mark.parametrize("count,status", [(100, 200), (101, 431), (5000, 431)])
def test_header_field_count_limit(limited_server, count, status) -> None:
    _check(limited_server, _head(headers=tuple(b"X-F%d: v" % i for i in range(count - 1))), status,
           f"{count} header fields")


@pytest.mark.parametrize("size,status", [(8190, 200), (8191, 431), (100000, 431)])
def test_header_field_size_limit(limited_server, size, status) -> None:
    _check(limited_server, _head(headers=(b"X-Big: " + b"a" * (size - len(b"X-Big: \r\n")),)), status,
           f"a {size}-byte header line")


def test_long_name_counts_like_a_long_value(limited_server) -> None:
    _check(limited_server, _head(headers=(b"X-" + b"n" * 8200 + b": v",)), 431, "an 8 KiB header name")


def test_header_line_streamed_in_small_pieces_is_refused_early(limited_server) -> None:
    """Pieces far below the limit each, so only the count across reads can see the line grow."""
    if limited_server.parser == "h11":
        pytest.skip("h11 bounds a whole head by its own 16 KiB buffer limit")
    with socket.create_connection((limited_server.host, limited_server.port), timeout=5) as sock:
        sock.sendall(b"GET /limits HTTP/1.1\r\n" + HOST + b"X-Big: ")
        sent = 0
        answer = b""
        try:
            for _ in range(200):  # 200 x 1 KiB: refused after about 8 KiB
                sock.sendall(b"a" * 1024)
                sent += 1024
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 431 ") or sent < 64 * 1024, f"sent {sent} bytes, got {answer[:100]!r}"


def test_head_not_complete_in_time_gets_408_and_close(limited_server) -> None:
    data, took = trickle_head(limited_server, HEADER_TIMEOUT + 4)
    assert data.startswith(b"HTTP/1.1 408 "), f"{limited_server.parser}: got {data[:200]!r} after {took:.1f}s"
    assert HEADER_TIMEOUT - 0.2 <= took <= HEADER_TIMEOUT + 1.5, f"closed after {took:.1f}s"


def test_fresh_connection_without_bytes_is_closed_after_header_timeout(limited_server) -> None:
    with socket.create_connection((limited_server.host, limited_server.port), timeout=HEADER_TIMEOUT + 5) as sock:
        started = time.monotonic()
        data = sock.recv(4096)
        took = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408 ") and took <= HEADER_TIMEOUT + 1.5, f"got {data[:100]!r} after {took:.1f}s"


def test_idle_keep_alive_connection_outlives_the_header_timeout(limited_server) -> None:
    """Between requests the keep-alive timeout governs, not the header timeout."""
    with socket.create_connection((limited_server.host, limited_server.port), timeout=5) as sock:
        for round_ in range(2):
            sock.sendall(_head(b"/__pid"))
            answer = _read_response(sock)
            assert answer.status == 200, f"round {round_}: {answer}"
            if round_ == 0:
                time.sleep(HEADER_TIMEOUT + 1.0)  # longer than the header timeout, shorter than keep-alive


def test_slow_body_is_not_cut_by_the_header_timeout(limited_server) -> None:
    with socket.create_connection((limited_server.host, limited_server.port), timeout=5) as sock:
        sock.sendall(b"POST /body HTTP/1.1\r\n" + HOST + b"Content-Length: 4\r\n\r\n")
        for byte in b"abcd":
            time.sleep(HEADER_TIMEOUT / 2)
            sock.sendall(bytes([byte]))
        answer = _read_response(sock)
    assert answer.status == 200 and (answer.json() or {}).get("body_len") == 4, answer


@pytest.mark.parametrize("case", [c for c in CASES if c.category != "slow"], ids=lambda c: c.id)
def test_limited_uvicorn_passes_the_corpus(limited_server, case) -> None:
    if limited_server.parser == "h11" and case.id in H11_KNOWN:
        pytest.xfail(H11_KNOWN[case.id])
    result = run_case(limited_server.host, limited_server.port, case)
    assert result.passed, f"{limited_server.parser}: {result.summary()}\n{case.why}\n{_tail(limited_server)}"
