"""Operations fixture (ASGI, no framework): the same endpoints as tests/apps/ops_wsgi.

/            {"pid", "uid", "gid", "version"}
/slow?s=2    the same after sleeping s seconds; logs "slow request started in <pid>" first
/block?s=2   the same, but the sleep blocks the worker's event loop (a busy worker)
/sqlite      inserts a row into /app/ops.sqlite3, answers the row count
/metrics     Prometheus text, aggregated over all workers (PROMETHEUS_MULTIPROC_DIR)
"""

import asyncio
import json
import os
import sqlite3
import time
from urllib.parse import parse_qs

import preloaded_marker  # noqa: F401  (which process imports it: PRELOAD_MODULES)

try:
    from prometheus_client import CollectorRegistry, Counter, generate_latest, multiprocess
except ImportError:  # the plain fixture build has no prometheus_client
    Counter = None

REQUESTS = Counter("ops_requests", "Requests served, all workers together") if Counter else None
DATABASE = "/app/ops.sqlite3"


def identity():
    return {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid(), "version": os.environ.get("APP_VERSION", "")}


def write_row():
    with sqlite3.connect(DATABASE) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS hits (at REAL)")
        connection.execute("INSERT INTO hits VALUES (?)", (time.time(),))
        return {"rows": connection.execute("SELECT count(*) FROM hits").fetchone()[0], **identity()}


def metrics():
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    status, content_type = 200, b"application/json"
    if path == "/metrics" and REQUESTS is not None:
        body, content_type = metrics(), b"text/plain; version=0.0.4"
    else:
        if REQUESTS is not None:
            REQUESTS.inc()
        if path == "/slow":
            print(f"slow request started in {os.getpid()}", flush=True)
            await asyncio.sleep(float(parse_qs(scope.get("query_string", b"").decode()).get("s", ["2"])[0]))
            body = json.dumps(identity()).encode()
        elif path == "/block":
            print(f"blocking request started in {os.getpid()}", flush=True)
            time.sleep(float(parse_qs(scope.get("query_string", b"").decode()).get("s", ["2"])[0]))
            body = json.dumps(identity()).encode()
        elif path == "/sqlite":
            body = json.dumps(write_row()).encode()
        elif path == "/":
            body = json.dumps(identity()).encode()
        else:
            status, body = 404, b'{"detail": "not found"}'
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
