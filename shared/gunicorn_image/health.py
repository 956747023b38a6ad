"""Probes the Gunicorn master answers itself (HEALTH_BIND), so they do not wait behind the app's workers (a leaf).

- `GET /livez`: 200 while the master runs and at least one worker is alive, else 503.
- `GET /readyz`: 200 once a live worker has loaded the app and the server is not stopping, else 503; it
  turns 503 at SIGTERM, at once, while the server goes on serving for SHUTDOWN_DELAY seconds.

One daemon thread in the master serves them with non-blocking sockets, so a slow probe client cannot hold the
others up. Workers say they have loaded the app by writing their pid to a pipe the master reads
(`worker_ready`, from the image's post_worker_init hook); a worker closes its copies of the master's
descriptors first thing (`close_in_worker`, from post_fork). The thread logs nothing and takes no lock a
forked worker could inherit held.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Collection

READ_LIMIT = 4096
CLIENT_SECONDS = 2.0  # a probe client gets this long to send its request line


class Health:
    def __init__(self, bind: str) -> None:
        self.bind = bind
        self.stopping = False
        self.ready: set[int] = set()
        self.workers: Callable[[], Collection[int]] = lambda: ()
        self._ready_read, self._ready_write = os.pipe()
        os.set_blocking(self._ready_write, False)  # a worker never waits on the master
        os.set_blocking(self._ready_read, False)
        self._listener: socket.socket | None = None

    # --- in the master -----------------------------------------------------------------------------------

    def start(self, workers: Callable[[], Collection[int]]) -> None:
        """Listen on HEALTH_BIND and answer from a daemon thread; `workers()` gives the live workers' pids."""
        self.workers = workers
        host, _, port = self.bind.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, int(port)))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        threading.Thread(target=self._serve, name="health", daemon=True).start()

    def live(self) -> bool:
        return bool(self.workers())

    def is_ready(self) -> bool:
        return not self.stopping and any(pid in self.ready for pid in list(self.workers()))

    def answer(self, request_line: bytes) -> bytes:
        """The whole HTTP answer to a request line."""
        method, _, rest = request_line.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if path not in (b"/livez", b"/readyz"):
            return _response(404, "not found")
        if method not in (b"GET", b"HEAD"):
            return _response(405, "GET or HEAD")
        healthy = self.live() if path == b"/livez" else self.is_ready()
        body = "ok" if healthy else ("stopping" if self.stopping else "not ready")
        return _response(200 if healthy else 503, body, head_only=method == b"HEAD")

    # --- in a worker -------------------------------------------------------------------------------------

    def close_in_worker(self) -> None:
        if self._listener is not None:
            self._listener.close()
        try:
            os.close(self._ready_read)
        except OSError:
            pass

    def worker_ready(self) -> None:
        try:
            os.write(self._ready_write, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # a full pipe: the master reads it soon; readiness then comes with the next worker

    # --- the thread --------------------------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._listener is not None
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, "accept")
        selector.register(self._ready_read, selectors.EVENT_READ, "ready")
        clients: dict[socket.socket, tuple[bytearray, float]] = {}
        while True:
            for key, _ in selector.select(timeout=0.5):
                if key.data == "accept":
                    self._accept(selector, clients)
                elif key.data == "ready":
                    self._read_ready()
                else:
                    self._read_client(selector, clients, key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            for client in [c for c, (_, deadline) in clients.items() if deadline < now]:
                self._drop(selector, clients, client)

    def _accept(self, selector: selectors.BaseSelector, clients: dict) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        client.setblocking(False)
        clients[client] = (bytearray(), time.monotonic() + CLIENT_SECONDS)
        selector.register(client, selectors.EVENT_READ, "client")

    def _read_ready(self) -> None:
        try:
            data = os.read(self._ready_read, 65536)
        except OSError:
            return
        self.ready.update(int(pid) for pid in data.split() if pid.isdigit())

    def _read_client(self, selector: selectors.BaseSelector, clients: dict, client: socket.socket) -> None:
        buffer, _ = clients[client]
        try:
            chunk = client.recv(READ_LIMIT)
        except OSError:
            chunk = b""
        buffer += chunk
        if chunk and b"\n" not in buffer and len(buffer) < READ_LIMIT:
            return
        if chunk:
            try:
                client.sendall(self.answer(bytes(buffer).split(b"\r\n", 1)[0].split(b"\n", 1)[0]))
            except OSError:
                pass
        self._drop(selector, clients, client)

    @staticmethod
    def _drop(selector: selectors.BaseSelector, clients: dict, client: socket.socket) -> None:
        selector.unregister(client)
        clients.pop(client, None)
        client.close()


def _response(status: int, body: str, head_only: bool = False) -> bytes:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}[status]
    payload = (body + "\n").encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(payload)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n").encode()
    return head if head_only else head + payload
