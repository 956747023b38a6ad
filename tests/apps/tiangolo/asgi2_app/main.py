# An ASGI 2 "double callable", the shape of the app in tiangolo/uvicorn-gunicorn's image.
import sys


class App:
    def __init__(self, scope):
        assert scope["type"] == "http"
        self.scope = scope

    async def __call__(self, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [[b"content-type", b"text/plain"]]})
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        await send({"type": "http.response.body", "body": f"Hello world! ASGI 2 on Python {python}".encode()})


app = App
