"""The drain of Uvicorn workers on a graceful stop: just-accepted connections deliver their request first.

The waiting and the swap of the worker's server run everywhere (fakes stand in for Uvicorn); the last test runs a
real Uvicorn server when Uvicorn is installed (it is in org/fastapi and org/starlette).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
import types

import pytest
from gunicorn_image.patches import uvicorn_drain


class FakeConnection:
    """As Uvicorn's HTTP protocols: `cycle` is None until a request head has been read."""

    def __init__(self, cycle: object = None) -> None:
        self.cycle = cycle


def run(coroutine):
    return asyncio.run(coroutine)


def test_no_pending_connection_ends_the_wait_after_one_poll() -> None:
    idle_keep_alive = FakeConnection(cycle=object())  # served a request: Uvicorn closes it, no wait
    websocket = object()  # no `cycle` at all
    waited = run(uvicorn_drain.wait_for_first_requests({idle_keep_alive, websocket}, timeout=5, interval=0.01))
    assert waited < 0.5, f"expected to stop after one poll, waited {waited:.2f}s"


def test_wait_ends_as_soon_as_a_new_connection_delivers_its_request() -> None:
    fresh = FakeConnection()

    async def scenario() -> float:
        asyncio.get_running_loop().call_later(0.1, setattr, fresh, "cycle", object())
        return await uvicorn_drain.wait_for_first_requests({fresh}, timeout=5, interval=0.01)

    waited = run(scenario())
    assert 0.09 <= waited < 1.0, f"expected the wait to end right after the request came (0.1 s), got {waited:.2f}s"


def test_wait_ends_when_a_connection_closes_without_a_request() -> None:
    fresh = FakeConnection()
    connections = {fresh}

    async def scenario() -> float:
        asyncio.get_running_loop().call_later(0.1, connections.discard, fresh)  # as connection_lost does
        return await uvicorn_drain.wait_for_first_requests(connections, timeout=5, interval=0.01)

    assert run(scenario()) < 1.0


def test_a_connection_that_never_sends_holds_the_stop_only_until_the_timeout() -> None:
    waited = run(uvicorn_drain.wait_for_first_requests({FakeConnection()}, timeout=0.2, interval=0.01))
    assert 0.2 <= waited < 0.7, f"expected the wait bounded at 0.2 s, got {waited:.2f}s"


def test_a_forced_exit_ends_the_wait() -> None:
    calls = []

    def give_up() -> bool:
        calls.append(1)
        return len(calls) >= 3

    waited = run(uvicorn_drain.wait_for_first_requests({FakeConnection()}, timeout=5, interval=0.01, give_up=give_up))
    assert waited < 0.5 and len(calls) == 3


# --- the swap in the worker process (fake Uvicorn modules) ------------------------------------------------


@pytest.fixture
def fake_uvicorn(monkeypatch: pytest.MonkeyPatch):
    """A stand-in `uvicorn.server.Server` and a worker module whose `_serve` builds it, as uvicorn-worker's."""

    class Server:
        def __init__(self, config: object = None) -> None:
            self.config = config

    server_module = types.ModuleType("uvicorn.server")
    server_module.Server = Server  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvicorn", types.ModuleType("uvicorn"))
    monkeypatch.setitem(sys.modules, "uvicorn.server", server_module)
    uvicorn_drain.draining_server_class.cache_clear()

    def worker_module(name: str) -> types.ModuleType:
        module = types.ModuleType(name)  # apply_drain looks at the module _serve was defined in
        module.__dict__.update(Server=Server, types=types)
        exec(  # noqa: S102
            "class UvicornWorker:\n"
            "    config = types.SimpleNamespace(http='auto')\n"
            "    async def _serve(self):\n"
            "        return Server(config=self.config)\n",
            module.__dict__,
        )
        return module

    yield types.SimpleNamespace(Server=Server, worker_module=worker_module)
    uvicorn_drain.draining_server_class.cache_clear()


@pytest.mark.parametrize("module_name", ["uvicorn_worker._workers", "uvicorn.workers"])
def test_uvicorn_workers_build_the_draining_server(fake_uvicorn, module_name: str) -> None:
    module = fake_uvicorn.worker_module(module_name)
    worker = module.UvicornWorker()
    assert uvicorn_drain.apply_drain(worker) is True
    built = run(worker._serve())
    assert isinstance(built, fake_uvicorn.Server) and type(built).__name__ == "DrainingServer"
    assert type(worker).__module__ == module_name  # the worker class itself is unchanged
    assert uvicorn_drain.apply_drain(worker) is True  # twice is harmless


def test_other_workers_are_left_alone(fake_uvicorn) -> None:
    class ThreadWorker:  # e.g. gthread: no _serve
        pass

    assert uvicorn_drain.apply_drain(ThreadWorker()) is False
    assert uvicorn_drain.apply_drain(types.SimpleNamespace()) is False


def test_a_worker_with_its_own_serve_is_kept_and_logged(fake_uvicorn, caplog) -> None:
    module = fake_uvicorn.worker_module("myproject.workers")
    with caplog.at_level("WARNING", logger="uvicorn.error"):
        assert uvicorn_drain.apply_drain(module.UvicornWorker()) is False
    assert "not drained" in caplog.text


# --- a real Uvicorn server --------------------------------------------------------------------------------


def test_a_connection_accepted_before_the_stop_gets_its_answer() -> None:
    """A client connects, the server is told to stop, then the request arrives: it is answered.

    Uvicorn's own shutdown would close that connection without an answer.
    """
    pytest.importorskip("uvicorn", reason="uvicorn is not installed on this host (it is in org/fastapi)")
    import uvicorn

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn_drain.draining_server_class()(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the server did not start within 10 s"

    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        time.sleep(0.2)  # accepted by the server, no request yet
        server.should_exit = True
        time.sleep(0.15)  # the main loop sees it within 0.1 s and starts the shutdown
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    finally:
        client.close()
        thread.join(10)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok"), f"expected 200 ok, got {answer!r}"
    assert not thread.is_alive(), "the server did not stop after the request"
