"""The example app of org/flask. Copy your own app to /app to replace it."""

import platform

from flask import Flask
from gunicorn_image import server_info

app = Flask(__name__)


@app.route("/")
def hello():
    return {
        "message": "Hello world! From Flask running on Gunicorn with Meinheld.",
        "framework": "flask",
        "server": server_info(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
