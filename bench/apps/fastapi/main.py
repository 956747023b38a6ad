"""The bench app for org/fastapi: a plain-text hello and a small JSON document, as a user would write them."""

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
async def hello():
    return "Hello, World!"


@app.get("/json")
async def json_document():
    return {"message": "Hello, World!"}
