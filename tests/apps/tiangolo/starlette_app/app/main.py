# The shape of tiangolo/uvicorn-gunicorn-starlette's example: `@app.route`, which Starlette 1.x removed,
# so it needs the user's own pin of Starlette 0.x (tests/container/test_dropin.py installs one).
import sys

from starlette.applications import Starlette
from starlette.responses import JSONResponse

version = f"{sys.version_info.major}.{sys.version_info.minor}"

app = Starlette()


@app.route("/")
async def homepage(request):
    return JSONResponse({"message": f"Hello world! From Starlette running on Uvicorn with Gunicorn. Using Python {version}"})
