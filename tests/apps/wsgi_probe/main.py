"""A plain WSGI app (no framework) that reports what the container tests need to see.

GET /            -> JSON: which module answered, MESSAGE, the worker pid, the client address,
                    the URL scheme and the server (`gunicorn_image.server_info()`)
GET /?env=A,B    -> adds {"env": {"A": ..., "B": ...}} from the worker's environment
GET /barrier?n=N -> waits until N requests are inside this worker at once (threads), up to 10 s
GET /sleep?s=S   -> answers after S seconds
Every request is logged by the app's own logger at WARNING level: "probe handled <path>".
"""

import json
import logging
import os
import threading
import time
from urllib.parse import parse_qs

from gunicorn_image import server_info

LAYOUT = "main.py"
MESSAGE = "original"  # /start-reload.sh tests change this line
log = logging.getLogger("probe")
_barriers: dict[int, threading.Barrier] = {}
_lock = threading.Lock()


def make_app(layout):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        log.warning("probe handled %s", path)
        answer = {
            "layout": layout,
            "message": MESSAGE,
            "kind": "wsgi",
            "pid": os.getpid(),
            "client": environ.get("REMOTE_ADDR"),
            "scheme": environ.get("wsgi.url_scheme"),
            "server": server_info(),
        }
        if "env" in query:
            names = query["env"][0].split(",")
            answer["env"] = {name: os.environ.get(name) for name in names}
        if path == "/barrier":
            parties = int(query["n"][0])
            with _lock:
                barrier = _barriers.setdefault(parties, threading.Barrier(parties))
            try:
                barrier.wait(timeout=10)
                answer["barrier"] = "passed"
            except threading.BrokenBarrierError:
                answer["barrier"] = "broken"
        if path == "/sleep":
            time.sleep(float(query["s"][0]))
        body = json.dumps(answer).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


app = make_app(LAYOUT)
other = make_app("main.py:other")
