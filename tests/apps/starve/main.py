"""Starvation fixture (no framework): `app` is WSGI, `asgi_app` is ASGI 3 (VARIABLE_NAME=asgi_app).

    /                 {"pid"}
    /alloc?mb=N       writes N MiB in 8 MiB pieces and holds them for the request (under --memory the
                      kernel kills this worker)
    /fill-tmp         writes /tmp full (64 KiB pieces until a write fails); 507 with the bytes written
    /threads?n=N&s=S  starts up to N threads that sleep S seconds; answers how many could be started
    POST /length      reads the whole body; answers its length
"""

import json
import os
import threading
import time
import uuid
from urllib.parse import parse_qs

PIECE = 8 * 1024 * 1024


def allocate(mib: int) -> int:
    pieces = [bytearray(b"\1") * PIECE for _ in range(max(1, mib * 1024 * 1024 // PIECE))]
    return len(pieces) * PIECE // (1024 * 1024)


def fill_tmp() -> int:
    written = 0
    try:
        with open(f"/tmp/fill-{os.getpid()}-{uuid.uuid4().hex}", "wb") as out:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
                written += 65536
    except OSError:
        return written


def start_threads(count: int, seconds: float) -> int:
    threads = []
    for _ in range(count):
        thread = threading.Thread(target=time.sleep, args=(seconds,), daemon=True)
        try:
            thread.start()
        except RuntimeError:  # can't start new thread: the pids limit
            break
        threads.append(thread)
    for thread in threads:
        thread.join()
    return len(threads)


def handle(path: str, query_string: str) -> tuple[int, dict]:
    """Every endpoint but /length."""
    query = {key: values[0] for key, values in parse_qs(query_string).items()}
    result: dict = {"pid": os.getpid()}
    if path == "/alloc":
        result["allocated_mib"] = allocate(int(query.get("mb", "64")))
    elif path == "/fill-tmp":
        result["written"] = fill_tmp()
        return 507, result
    elif path == "/threads":
        result["started"] = start_threads(int(query.get("n", "10")), float(query.get("s", "1")))
    return 200, result


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/length":
        status, result = 200, {"pid": os.getpid(), "length": len(environ["wsgi.input"].read())}
    else:
        status, result = handle(environ.get("PATH_INFO", "/"), environ.get("QUERY_STRING", ""))
    body = json.dumps(result).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response("200 OK" if status == 200 else "507 Insufficient Storage", headers)
    return [body]


async def asgi_app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/length":
        length, more = 0, True
        while more:
            message = await receive()
            length += len(message.get("body", b""))
            more = message.get("more_body", False)
        status, result = 200, {"pid": os.getpid(), "length": length}
    else:
        status, result = handle(scope["path"], scope["query_string"].decode())
    body = json.dumps(result).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
