"""A Flask app that reports what the container tests need to see (any path; ?env=A,B adds those
variables). Every request is logged by the app's own logger at WARNING level: "probe handled <path>"."""

import logging
import os

from flask import Flask, request
from gunicorn_image import server_info

MESSAGE = "original"  # /start-reload.sh tests change this line
log = logging.getLogger("probe")
app = Flask(__name__)


@app.route("/")
@app.route("/<path:path>")
def probe(path=""):
    log.warning("probe handled /%s", path)
    answer = {
        "message": MESSAGE,
        "kind": "flask",
        "pid": os.getpid(),
        "client": request.remote_addr,
        "server": server_info(),
    }
    names = request.args.get("env", "")
    if names:
        answer["env"] = {name: os.environ.get(name) for name in names.split(",")}
    return answer
