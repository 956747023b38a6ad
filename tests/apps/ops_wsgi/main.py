"""Operations fixture (WSGI, no framework): tells which process answered and as whom, sleeps on
request, writes SQLite in /app, and counts requests with prometheus_client when it is installed.

    /            {"pid", "uid", "gid", "version"}
    /slow?s=2    the same after sleeping s seconds; logs "slow request started in <pid>" first
    /sqlite      inserts a row into /app/ops.sqlite3, answers the row count
    /metrics     Prometheus text, aggregated over all workers (PROMETHEUS_MULTIPROC_DIR)
"""

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


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    status, content_type = "200 OK", "application/json"
    if path == "/metrics" and REQUESTS is not None:
        body, content_type = metrics(), "text/plain; version=0.0.4"
    else:
        if REQUESTS is not None:
            REQUESTS.inc()
        if path == "/slow":
            print(f"slow request started in {os.getpid()}", flush=True)
            time.sleep(float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["2"])[0]))
            body = json.dumps(identity()).encode()
        elif path == "/sqlite":
            body = json.dumps(write_row()).encode()
        elif path == "/":
            body = json.dumps(identity()).encode()
        else:
            status, body = "404 Not Found", b'{"detail": "not found"}'
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
