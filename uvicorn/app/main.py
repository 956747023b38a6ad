"""The example app of org/uvicorn: a plain ASGI app, no framework. Copy your own app to /app to replace it."""

import json
import platform

from gunicorn_image import server_info


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = json.dumps({
        "message": "Hello world! From an ASGI app running on Uvicorn with Gunicorn.",
        "framework": "asgi",
        "server": server_info(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
