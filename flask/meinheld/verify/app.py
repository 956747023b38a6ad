"""Test app for verify/: echoes what it was sent as JSON, and appends every request it runs to $HITS_LOG so
that hostile.py can tell whether a hidden (smuggled) request ran. /big/N, /stream/N and /length serve
functional.py; /hello is a plain hello world."""
import json
import os
import sys

from flask import Flask, request

app = Flask(__name__)
HITS_LOG = os.environ.get("HITS_LOG", "/tmp/hits.log")
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


@app.route("/", defaults={"path": ""}, methods=METHODS)
@app.route("/<path:path>", methods=METHODS)
def echo(path):
    body = request.get_data()
    with open(HITS_LOG, "a") as log:
        log.write(f"{request.method} /{path}\n")
    if path.startswith("big/"):
        return b"x" * int(path[4:])
    if path.startswith("stream/"):
        count = int(path[7:])
        return app.response_class((b"%06d\n" % i for i in range(count)), mimetype="text/plain")
    if path == "length":
        return str(len(body))
    if path == "hello":
        return f"Hello from Flask on Meinheld, Python {sys.version_info[0]}.{sys.version_info[1]}"
    headers = {k: v for k, v in request.environ.items() if k.startswith("HTTP_") or k.startswith("CONTENT_")}
    return json.dumps({"pid": os.getpid(), "path": "/" + path, "body": body.decode("latin-1"),
                       "headers": headers, "protocol": request.environ.get("SERVER_PROTOCOL")})
