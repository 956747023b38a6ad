# The shape of tiangolo/meinheld-gunicorn-flask's example app (/app/app/main.py).
import sys

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"Hello World from Flask with Meinheld and Gunicorn, Python {version}"
