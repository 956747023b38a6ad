"""A plain ASGI app (no framework): `async def app(scope, receive, send)`.

GET /         -> JSON: layout, MESSAGE, kind "asgi", worker pid, client address, scheme, server
GET /?env=A,B -> adds {"env": {...}} from the worker's environment
Every request is logged by the app's own logger at WARNING level: "probe handled <path>".
"""

import json
import logging
import os
from urllib.parse import parse_qs

from gunicorn_image import server_info

MESSAGE = "original"  # /start-reload.sh tests change this line
log = logging.getLogger("probe")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    log.warning("probe handled %s", scope["path"])
    query = parse_qs(scope.get("query_string", b"").decode())
    client = scope.get("client")
    answer = {
        "layout": "main.py",
        "message": MESSAGE,
        "kind": "asgi",
        "pid": os.getpid(),
        "client": client[0] if client else None,
        "scheme": scope.get("scheme"),
        "server": server_info(),
    }
    if "env" in query:
        answer["env"] = {name: os.environ.get(name) for name in query["env"][0].split(",")}
    body = json.dumps(answer).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
