"""A FastAPI app that reports what the container tests need to see.

GET /          -> JSON: message, worker pid, client address, scheme, server
GET /?env=A,B  -> adds {"env": {...}} from the worker's environment
"""

import logging
import os

from fastapi import FastAPI, Request
from gunicorn_image import server_info

MESSAGE = "original"  # /start-reload.sh tests change this line
log = logging.getLogger("probe")
app = FastAPI()


@app.get("/{path:path}")
async def probe(request: Request, path: str = "", env: str = ""):
    log.warning("probe handled /%s", path)
    answer = {
        "message": MESSAGE,
        "kind": "fastapi",
        "pid": os.getpid(),
        "client": request.client.host if request.client else None,
        "scheme": request.url.scheme,
        "server": server_info(),
    }
    if env:
        answer["env"] = {name: os.environ.get(name) for name in env.split(",")}
    return answer
