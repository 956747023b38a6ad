"""Large and slow transfers on the flask image, through Meinheld's greenlet paths (was
flask/meinheld/verify/functional.py): a big response, a big response to a reader that stalls (the write
must suspend and resume), a streamed response, request bodies kept in memory and in a temporary file
(over 500 KiB), a chunked request body, and 64 keep-alive clients at once.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import socket
import time
from collections.abc import Iterator

import pytest

from docker_support import build_app_image, require_image, run_container

pytestmark = pytest.mark.alone  # load, timing and memory under test: `make test` runs it with nothing beside it


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with run_container(build_app_image(require_image("flask"), "bodies")) as server:
        server.wait_http("/hello")
        yield server.port


def call(port: int, method: str, path: str, body=None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_20_mb_response_arrives_whole(port: int) -> None:
    status, data = call(port, "GET", "/big/20000000")
    assert (status, len(data)) == (200, 20_000_000)


def test_32_mb_response_to_a_reader_that_stalls_arrives_whole(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"GET /big/32000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(1.0)  # more than every buffer on the way holds: the server's write must suspend and resume
        data = bytearray()
        while chunk := sock.recv(1 << 20):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and len(body) == 32_000_000, head


def test_streamed_response_of_100000_pieces(port: int) -> None:
    status, data = call(port, "GET", "/stream/100000")
    assert (status, len(data)) == (200, 700_000)


@pytest.mark.parametrize("size", [100_000, 5_000_000], ids=["in-memory", "temporary-file"])
def test_content_length_body_is_read_whole(port: int, size: int) -> None:
    assert call(port, "POST", "/length", b"y" * size) == (200, str(size).encode())


def test_chunked_body_is_read_whole(port: int) -> None:
    pieces = (b"z" * 65536 for _ in range(48))  # http.client sends an iterable body chunked
    assert call(port, "POST", "/length", pieces) == (200, str(48 * 65536).encode())


def test_64_keep_alive_clients_of_50_requests_each_are_all_served(port: int) -> None:
    def client(_: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        served = 0
        for _ in range(50):
            connection.request("GET", "/hello")
            response = connection.getresponse()
            served += response.status == 200 and response.read() == b"Hello"
        connection.close()
        return served

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        assert sum(pool.map(client, range(64))) == 64 * 50
