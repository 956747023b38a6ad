# The shape of tiangolo/uvicorn-gunicorn-fastapi's example app (/app/app/main.py).
import sys

from fastapi import FastAPI

version = f"{sys.version_info.major}.{sys.version_info.minor}"

app = FastAPI()


@app.get("/")
async def read_root():
    return {"message": f"Hello world! From FastAPI running on Uvicorn with Gunicorn. Using Python {version}"}
