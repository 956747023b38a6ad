"""The example app of org/base: a plain WSGI callable. Copy your own app to /app to replace it."""

import json
import platform

from gunicorn_image import server_info


def app(environ, start_response):
    body = json.dumps({
        "message": "Hello world! From a WSGI app on org/base.",
        "framework": "wsgi",
        "server": server_info(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
