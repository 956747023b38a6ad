# The shape of tiangolo/meinheld-gunicorn's example: a bare WSGI callable at /app/main.py.
import sys


def app(environ, start_response):
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    body = f"Hello World from a default Python {version} app in a Docker container, with Meinheld and Gunicorn".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
