"""A WSGI app that answers with the environment variables named in ?env=A,B (to see prestart exports)."""

import json
import os
from urllib.parse import parse_qs


def app(environ, start_response):
    names = parse_qs(environ.get("QUERY_STRING", "")).get("env", [""])[0].split(",")
    body = json.dumps({"env": {name: os.environ.get(name) for name in names if name}}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
