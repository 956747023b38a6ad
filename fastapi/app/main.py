"""The example app of org/fastapi. Copy your own app to /app to replace it."""

import platform

from fastapi import FastAPI
from gunicorn_image import server_info

app = FastAPI()


@app.get("/")
async def read_root():
    return {
        "message": "Hello world! From FastAPI running on Uvicorn with Gunicorn.",
        "framework": "fastapi",
        "server": server_info(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
