"""What the soak and starvation tests share: the processes of a running container and their memory, and a
prober that keeps asking `GET /` while something else goes on.

Imported as `reliability_support` (tests/reliability is on sys.path through pytest's rootdir-relative
imports, as tests/hostile's helpers are).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from docker_support import Running

# Run inside the container by its own Python: every process's parent, resident memory and command line.
PROCESSES = r"""
import json, os
out = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        status = open(f"/proc/{pid}/status").read()
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields.get("VmRSS", "0 kB").split()[0])
    out[pid] = {"ppid": int(fields["PPid"]), "rss_kib": rss, "cmdline": cmdline.strip()}
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    rss_kib: int
    cmdline: str


def processes(server: Running) -> dict[int, Process]:
    code, output = server.exec(["python", "-c", PROCESSES])
    assert code == 0, f"could not list the container's processes: {output}"
    return {int(pid): Process(int(pid), info["ppid"], info["rss_kib"], info["cmdline"])
            for pid, info in json.loads(output).items()}


def workers(server: Running) -> dict[int, Process]:
    """Gunicorn's workers: the children of the master, which is PID 1 (start.sh execs it)."""
    return {pid: process for pid, process in processes(server).items() if process.ppid == 1}


def get(port: int, path: str = "/", timeout: float = 10.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class Prober:
    """Sends `GET /` on a new connection every `interval` s until stopped; counts what came back."""

    port: int
    interval: float = 0.05
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _probing: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            with self._probing:
                try:
                    status, _ = get(self.port, timeout=10.0)
                    if status == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"status {status}")
                except (OSError, http.client.HTTPException) as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> Prober:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(15)

    @contextlib.contextmanager
    def between_probes(self) -> Iterator[None]:
        """No probe is in flight inside this block: a worker the test kills by hand holds none (SIGKILL drops
        what it holds, which is not what a test of its replacement asks about)."""
        with self._probing:
            yield

    def summary(self) -> str:
        return f"{self.ok} probes answered 200, {len(self.failures)} failed: {self.failures[:5]}"
