# A package app (/app/app/main.py, found as MODULE_NAME=app.main), written as an ASGI 2 function of scope.
import sys


def app(scope):
    async def respond(receive, send):
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        body = f"Hello world! ASGI 2 package on Python {python}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": [[b"content-type", b"text/plain"]]})
        await send({"type": "http.response.body", "body": body})

    return respond
