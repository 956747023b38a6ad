"""Uvicorn workers on uvloop accept from add_reader (gunicorn_image.patches.uvicorn_accept).

Which workers get the accepting loop, with Uvicorn's real Config; then real Uvicorn servers on it, with a
socket handed over as Gunicorn hands it: they answer new and kept-alive connections, stop accepting when told
to stop, and still drain a connection accepted just before the stop. That new connections are no longer left
queued behind kept-alive ones under load is what the soak shows (tests/reliability/test_soak.py).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import types

import pytest
from gunicorn_image.patches import uvicorn_accept, uvicorn_drain

uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed on this host (it is in org/fastapi)")
pytest.importorskip("uvloop", reason="uvloop is not installed on this host (it is in org/fastapi)")


async def hello(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def worker(loop: str, **config: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(config=uvicorn.Config(hello, loop=loop, **config))


def test_a_worker_that_would_run_uvloop_runs_the_accepting_loop() -> None:
    for loop in ("auto", "uvloop"):
        patched = worker(loop)
        assert uvicorn_accept.apply_accept(patched) is True
        assert patched.config.loop == uvicorn_accept.LOOP_FACTORY
        assert patched.config.get_loop_factory() is uvicorn_accept.new_event_loop
        assert uvicorn_accept.apply_accept(patched) is True  # twice is once


def test_workers_on_asyncio_with_tls_or_not_uvicorns_are_left_alone() -> None:
    on_asyncio = worker("asyncio")  # UvicornH11Worker's loop
    assert uvicorn_accept.apply_accept(on_asyncio) is False and on_asyncio.config.loop == "asyncio"
    with_tls = types.SimpleNamespace(config=types.SimpleNamespace(is_ssl=True, loop="auto"))
    assert uvicorn_accept.apply_accept(with_tls) is False and with_tls.config.loop == "auto"
    assert uvicorn_accept.apply_accept(types.SimpleNamespace()) is False  # gthread, Meinheld: no config


def test_a_server_asked_for_a_host_and_port_is_uvloops_own() -> None:
    loop = uvicorn_accept.new_event_loop()
    try:
        server = loop.run_until_complete(loop.create_server(asyncio.Protocol, "127.0.0.1", 0))
        assert not isinstance(server, uvicorn_accept.AcceptingServer)
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        loop.close()


class RunningServer:
    """A Uvicorn server (with the drain, as in the images) on the accepting loop, serving a handed-over socket."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        patched = worker("auto", log_level="warning", lifespan="off")
        assert uvicorn_accept.apply_accept(patched)
        self.server = uvicorn_drain.draining_server_class()(patched.config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.listener]}, daemon=True)

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.server.started, "the server did not start within 10 s"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def read_answer(client: socket.socket) -> bytes:
    answer = b""
    while chunk := client.recv(4096):
        answer += chunk
    return answer


def test_a_server_on_the_accepting_loop_answers_new_and_kept_alive_connections_then_stops() -> None:
    with RunningServer() as running:
        assert all(isinstance(s, uvicorn_accept.AcceptingServer) for s in running.server.servers)
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", running.port), timeout=5) as client:
                client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = read_answer(client)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok"), answer
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as client:
            for _ in range(5):
                client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = b""
                while not answer.endswith(b"ok"):
                    answer += client.recv(4096)
                assert answer.startswith(b"HTTP/1.1 200"), answer
    assert not running.thread.is_alive(), "the server did not stop"
    with pytest.raises(OSError):  # Uvicorn closed the listener
        socket.create_connection(("127.0.0.1", running.port), timeout=2).close()


def test_a_connection_accepted_before_the_stop_still_gets_its_answer() -> None:
    """The drain (uvicorn_drain) holds on the accepting loop too: connect, stop, then send the request."""
    with RunningServer() as running:
        client = socket.create_connection(("127.0.0.1", running.port), timeout=5)
        try:
            time.sleep(0.2)  # accepted by the server, no request yet
            running.server.should_exit = True
            time.sleep(0.15)  # the main loop sees it within 0.1 s and starts the shutdown
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = read_answer(client)
        finally:
            client.close()
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok"), f"expected 200 ok, got {answer!r}"
    assert not running.thread.is_alive(), "the server did not stop after the request"


def test_one_readiness_accepts_at_most_a_batch_so_a_burst_is_shared_between_workers() -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(40)]
    loop = uvicorn_accept.new_event_loop()
    try:
        server = uvicorn_accept.AcceptingServer(loop, asyncio.Protocol, listener, 128)
        server._accept()  # what one readiness of the listening socket does
        assert len(server._pending) == uvicorn_accept.ACCEPT_BATCH == 16, "the rest stay queued for any worker"
        server._accept()
        assert len(server._pending) == 32
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        for client in clients:
            client.close()
        loop.close()
        listener.close()
