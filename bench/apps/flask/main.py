"""The bench app for org/flask: a plain-text hello and a small JSON document, as a user would write them."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, World!", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/json")
def json_document():
    return {"message": "Hello, World!"}
