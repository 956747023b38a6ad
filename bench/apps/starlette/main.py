"""The bench app for org/starlette: a plain-text hello and a small JSON document, as a user would write them."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


async def hello(request):
    return PlainTextResponse("Hello, World!")


async def json_document(request):
    return JSONResponse({"message": "Hello, World!"})


app = Starlette(routes=[Route("/", hello), Route("/json", json_document)])
