"""ASGI fixture app for the hostile-HTTP corpus: the same endpoints as the WSGI one, in plain ASGI.

``GET /`` answers ``ok``. ``GET /__pid`` answers the worker's process id. ``GET /__requests?match=TEXT`` answers
the served requests whose path contains TEXT. Every other request is read to the end, recorded in a file shared
by the workers, and answered with JSON: method, path, body length and the header fields the app sees (names as
the server hands them over, lower-case).
"""

import json
import os
from urllib.parse import parse_qs

LOG = os.environ.get("HOSTILE_REQUEST_LOG", "/tmp/hostile-requests.log")


def _record(method, path):
    line = ("%s %s\n" % (method, path)).encode("latin-1", "replace")
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _served(match):
    try:
        with open(LOG, "rb") as f:
            lines = f.read().decode("latin-1").splitlines()
    except FileNotFoundError:
        return []
    return [line for line in lines if match in line]


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    method = scope["method"]
    path = scope["path"]
    if path == "/__pid":
        body = str(os.getpid()).encode()
    elif path == "/__requests":
        match = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("match", [""])[0]
        body = "".join(line + "\n" for line in _served(match)).encode("latin-1", "replace")
    elif path == "/" and method == "GET":
        body = b"ok"
    else:
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        _record(method, path)
        seen = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        body = json.dumps({"method": method, "path": path, "body_len": size, "headers": seen}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
