"""What the benchmark measures: the images, the servers compared on each, the endpoints and the run settings.

Pure data, no Docker: read this file first to know what a run does.

Every image is compared in a bench image `FROM` it (bench/docker/bench.Dockerfile) that adds uWSGI and
Granian and replaces /app with the bench app (bench/apps/<image>/main.py). So every server in a group
serves the same app with the same Python and the same packages; only the server and our layer differ.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import project  # noqa: E402  (tools/: the Pythons, names and tags, read from versions.json)


def _version(python: str) -> tuple[int, ...]:
    return tuple(int(part) for part in python.split("."))


DEFAULT_PYTHON = project.DEFAULT_PYTHON
NEWEST_PYTHON = max(project.PYTHONS, key=_version)
# A run covers the Python most users get and the newest one we support: a regression that only one of
# them shows (a new interpreter, a wheel missing for it) is then seen too.
BENCH_PYTHONS = tuple(dict.fromkeys((DEFAULT_PYTHON, NEWEST_PYTHON)))
ORG = project.ORG
WORKERS = 2  # every server runs this many worker processes
CONTAINER_PORT = 80


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    body: str  # what the bench app answers; checked before any load, so we know the right app is up
    is_json: bool = False

    def accepts(self, body: str) -> bool:
        """Whether a response body is this endpoint's (JSON compared as data, not as text)."""
        if not self.is_json:
            return body.strip() == self.body
        try:
            return json.loads(body) == json.loads(self.body)
        except ValueError:
            return False


HELLO = Endpoint("hello", "/", "Hello, World!")
JSON = Endpoint("json", "/json", '{"message": "Hello, World!"}', is_json=True)
ENDPOINTS = (HELLO, JSON)


@dataclass(frozen=True)
class Server:
    key: str  # short and stable: used in container names, JSON results and the chart
    label: str  # what the table shows
    command: tuple[str, ...] | None  # None: the image's own CMD (/start.sh)
    env: dict[str, str] = field(default_factory=dict)
    ours: bool = False  # one of our image's own configurations: measured, never a competitor
    throughput: bool = True  # False: cold start and idle memory only (no wrk runs)
    judged: bool = True  # False: one of ours shown beside the default for comparison only, with no target
    user: str | None = None  # `docker run --user`; None: the image's (root, whose master drops it for workers)

    @property
    def shown_command(self) -> str:
        shown = " ".join(self.command) if self.command else "/start.sh"
        settings = " ".join(f"{name}={value!r}" for name, value in self.env.items())
        as_user = f"--user {self.user} " if self.user else ""
        return f"{as_user}{settings} {shown}".strip()


@dataclass(frozen=True)
class ImagePlan:
    image: str  # "flask"
    framework: str  # "Flask"
    servers: tuple[Server, ...]  # the image's default first, then its other configurations, then the others
    bare: str  # key of the server our default wraps: the report shows the paired ratios to it, what our layer costs

    @property
    def default(self) -> Server:
        return self.servers[0]

    @property
    def variants(self) -> tuple[Server, ...]:
        """Our image's configurations other than the default (PRELOAD=1), each judged against the others."""
        return tuple(server for server in self.servers[1:] if server.ours and server.judged)

    def setting_of(self, variant: Server) -> str:
        """What a variant sets on top of our default: `PRELOAD=1`."""
        return " ".join(f"{name}={value}" for name, value in variant.env.items() if self.default.env.get(name) != value)

    @property
    def others(self) -> tuple[Server, ...]:
        """The servers a user could pick instead: the competitors of our default and variants."""
        return tuple(server for server in self.servers if not server.ours)

    def server(self, key: str) -> Server:
        return next(server for server in self.servers if server.key == key)


def _bind() -> tuple[str, ...]:
    return ("--bind", f"0.0.0.0:{CONTAINER_PORT}")


def _default(image: str) -> Server:
    # The image exactly as users run it: its CMD, with the worker count fixed and the access log off
    # (every other server here runs without one too).
    return Server("default", f"{ORG}/{image} default (/start.sh)", None,
                  {"WEB_CONCURRENCY": str(WORKERS), "ACCESS_LOG": ""}, ours=True)


PRELOAD_KEY = "preload"


def _preload(image: str) -> Server:
    # The opt-in that shares the app's memory between the workers (README "PRELOAD"): the same start,
    # measured for cold start and idle memory only, since it serves requests exactly as the default does.
    return Server(PRELOAD_KEY, f"{ORG}/{image} PRELOAD=1", None,
                  {"WEB_CONCURRENCY": str(WORKERS), "ACCESS_LOG": "", "PRELOAD": "1"}, ours=True, throughput=False)


NO_PRELOAD_MODULES_KEY = "no-preload-modules"


def _no_preload_modules(image: str) -> Server:
    # The default as it was before the master imported the framework for the workers (README
    # "PRELOAD_MODULES"): what that change is worth, paired in the same run; no target of its own.
    return Server(NO_PRELOAD_MODULES_KEY, f"{ORG}/{image} PRELOAD_MODULES=''", None,
                  {"WEB_CONCURRENCY": str(WORKERS), "ACCESS_LOG": "", "PRELOAD_MODULES": ""}, ours=True,
                  throughput=False, judged=False)


# The other servers run as the unprivileged account our default's workers serve as (APP_USER's default),
# so both sides pay the same for it: a file lookup by a non-root process costs more on some storage
# drivers (about 4x root's on fuse-overlayfs, measured), and nobody should serve as root to win a race.
# Port 80 needs no privilege in a container (Docker sets ip_unprivileged_port_start to 0).
BARE_USER = "app"


def _gunicorn(key: str, label: str, worker_class: str) -> Server:
    return Server(key, label, ("gunicorn", "--workers", str(WORKERS), "--worker-class", worker_class,
                               *_bind(), "main:app"), user=BARE_USER)


def _granian(interface: str) -> Server:
    return Server("granian", "Granian", ("granian", "--interface", interface, "--workers", str(WORKERS),
                                         "--host", "0.0.0.0", "--port", str(CONTAINER_PORT), "main:app"),
                  user=BARE_USER)


WSGI_SERVERS = (
    # No Gunicorn gthread: it is org/base's default for WSGI, which org/flask replaces with Meinheld, so it
    # is never a contender for the flask image; at a third of Meinheld's speed it only took a fifth of
    # the flask measurements.
    _gunicorn("gunicorn-meinheld", "Gunicorn + Meinheld, bare", "meinheld.gmeinheld.MeinheldWorker"),
    # --http11-socket, not --http-socket: the plain one closes every connection without saying so, which
    # wrk counts as one read error per request; with keep-alive uWSGI is measured like everyone else.
    Server("uwsgi", "uWSGI (http11-socket)", (
        "uwsgi", "--http11-socket", f":{CONTAINER_PORT}", "--master", "--processes", str(WORKERS),
        "--module", "main:app", "--need-app", "--disable-logging", "--die-on-term", "--listen", "1024",
    ), user=BARE_USER),
    _granian("wsgi"),
)

ASGI_SERVERS = (
    Server("uvicorn", "Uvicorn --workers, bare", (
        "uvicorn", "--workers", str(WORKERS), "--host", "0.0.0.0", "--port", str(CONTAINER_PORT),
        "--no-access-log", "main:app",
    ), user=BARE_USER),
    # Not a target, an explanation: the image's own server without our layer, so a gap between our
    # default and bare Uvicorn splits into what Gunicorn's worker costs and what our layer costs.
    _gunicorn("gunicorn-uvicorn", "Gunicorn + UvicornWorker, bare", "uvicorn_worker.UvicornWorker"),
    _gunicorn("gunicorn-asgi", "Gunicorn -k asgi", "asgi"),
    _granian("asgi"),
)

def _ours(image: str) -> tuple[Server, ...]:
    return _default(image), _preload(image), _no_preload_modules(image)


PLANS = (
    ImagePlan("flask", "Flask", (*_ours("flask"), *WSGI_SERVERS), bare="gunicorn-meinheld"),
    ImagePlan("fastapi", "FastAPI", (*_ours("fastapi"), *ASGI_SERVERS), bare="gunicorn-uvicorn"),
    ImagePlan("starlette", "Starlette", (*_ours("starlette"), *ASGI_SERVERS), bare="gunicorn-uvicorn"),
)
SIZE_ONLY = ("base",)  # compared for image size only: it has no framework app to load


@dataclass(frozen=True)
class Settings:
    rounds: int = 10  # each round gives one A/B pair per comparison
    duration_s: int = 2  # per wrk run: short, because many pairs beat a few long runs against drifting noise
    concurrencies: tuple[int, ...] = (64, 256)
    warmup_s: int = 1  # one wrk run per container before the measured ones, not recorded
    settle_s: float = 1.0  # after the first 200, before reading idle memory: the other workers finish booting
    start_timeout_s: float = 60.0
    wrk_threads: int = 1  # wrk shares the two cores with the servers; one thread leaves them the most
    outside_cpu_limit: float = 0.15  # cores used outside the benchmark during a wrk run above which it is dropped
    min_pairs: int = 10  # a comparison resting on fewer pairs is flagged as not conclusive
    pythons: tuple[str, ...] = BENCH_PYTHONS
    smoke: bool = False


FULL = Settings()
SMOKE = Settings(rounds=1, duration_s=2, concurrencies=(64,), warmup_s=1, settle_s=1.0, min_pairs=1,
                 pythons=(DEFAULT_PYTHON,), smoke=True)

# The targets (issue 13): the images' defaults against the best of what a user could pick instead, in the
# same run. "Best" is the competitor against which our paired median ratio is worst.
THROUGHPUT_AT_LEAST = 0.95  # default / fastest other server, every endpoint and concurrency
COLD_START_AT_MOST = 1.10  # default / fastest-starting other server
MEMORY_AT_MOST = 1.2  # default / leanest other server, idle PSS of all the container's processes
SIZE_AT_MOST = 1.1  # image / minimal hand-written Dockerfile with the same packages


def server_order(servers: Sequence[Server], round_no: int) -> list[Server]:
    """The order in which a round starts and measures an image's servers: as planned in odd rounds,
    reversed in even ones, so in every pair of servers each goes first in half the rounds (whatever a
    position costs, a warmer CPU or a fuller page cache, falls on both alike)."""
    return list(servers) if round_no % 2 == 1 else list(reversed(servers))


def cell_key(endpoint: str, concurrency: int) -> str:
    """How one throughput measurement is named in results and tables: `hello c64`."""
    return f"{endpoint} c{concurrency}"


def cells(settings: Settings) -> list[str]:
    return [cell_key(endpoint.name, concurrency) for endpoint in ENDPOINTS for concurrency in settings.concurrencies]
