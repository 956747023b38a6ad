"""A minimal WSGI app that says which file it is (main.py)."""

import json


def app(environ, start_response):
    body = json.dumps({"layout": "main.py"}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
