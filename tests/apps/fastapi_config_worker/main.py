"""A FastAPI app that says which worker serves it."""

from fastapi import FastAPI
from gunicorn_image import server_info

app = FastAPI()


@app.get("/")
async def root():
    return {"server": server_info()}
