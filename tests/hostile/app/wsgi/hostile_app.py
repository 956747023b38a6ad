"""WSGI fixture app for the hostile-HTTP corpus.

``GET /`` answers ``ok``. ``GET /__pid`` answers the worker's process id, so a test can tell that a worker was
replaced (crashed). ``GET /__requests?match=TEXT`` answers the served requests whose path contains TEXT, one
``METHOD PATH`` per line. Every other request is read to the end, recorded in a file shared by the workers,
and answered with JSON: method, path, body length and the header fields the app sees, named as an application
would look them up (``HTTP_X_TEST`` is ``x-test``).
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


def _seen_headers(environ):
    seen = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            seen[key[5:].lower().replace("_", "-")] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            seen[key.lower().replace("_", "-")] = value
    return seen


def app(environ, start_response):
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("PATH_INFO", "")
    if path == "/__pid":
        body = str(os.getpid()).encode()
    elif path == "/__requests":
        match = parse_qs(environ.get("QUERY_STRING", "")).get("match", [""])[0]
        body = "".join(line + "\n" for line in _served(match)).encode("latin-1", "replace")
    elif path == "/" and method == "GET":
        body = b"ok"
    else:
        data = environ["wsgi.input"].read()
        _record(method, path)
        body = json.dumps(
            {"method": method, "path": path, "body_len": len(data), "headers": _seen_headers(environ)}
        ).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
