"""The example app of org/starlette. Copy your own app to /app to replace it."""

import platform

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from gunicorn_image import server_info


async def homepage(request):
    return JSONResponse({
        "message": "Hello world! From Starlette running on Uvicorn with Gunicorn.",
        "framework": "starlette",
        "server": server_info(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    })


app = Starlette(routes=[Route("/", homepage)])
