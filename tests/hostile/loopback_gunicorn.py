"""A real Gunicorn on a loopback port, wired with one of the project's post_fork hooks, for tests without Docker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from hostile_http import worker_pid

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "app"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def loopback_gunicorn(tmp: Path, config: str, args: list[str], app: str) -> Iterator[SimpleNamespace]:
    """Gunicorn with ``config`` (Python text; ``startup`` importable), ``args`` and the ``app`` fixture app
    ("asgi" or "wsgi"), one worker, on 127.0.0.1; yields host, port, log (its output), process."""
    (tmp / "conf.py").write_text(config)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "shared"), HOSTILE_REQUEST_LOG=str(tmp / "requests.log"))
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(tmp / "conf.py"), "-w", "1", "-b", f"127.0.0.1:{port}",
             *args, "--chdir", str(APPS / app), "hostile_app:app"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        healthy, _, error = worker_pid("127.0.0.1", port, timeout=30.0)
        if not healthy:
            pytest.fail(f"gunicorn {' '.join(args)} did not come up ({error}):\n"
                        f"{log_path.read_text(errors='replace')[-3000:]}")
        yield SimpleNamespace(host="127.0.0.1", port=port, log=log_path, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tail(log: Path, lines: int = 20) -> str:
    return "\n".join(line[:240] for line in log.read_text(errors="replace").splitlines()[-lines:])


def trickle_head(server, give_up_after: float) -> tuple[bytes, float]:
    """Start a request head and add a byte every 0.3 s (each byte must not restart a header timeout) until the
    server answers and closes, or ``give_up_after`` seconds; (what the server sent, seconds until it closed)."""
    with socket.create_connection((server.host, server.port), timeout=give_up_after + 1) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /slow HTTP/1.1\r\n")
        data = b""
        while time.monotonic() < started + give_up_after:
            sock.settimeout(0.3)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                sock.sendall(b"X")
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data, time.monotonic() - started
