"""Large-body fixture (Flask): big and streamed responses, request bodies of any size.

    /big/N      N bytes of "x"
    /stream/N   N lines "000000\n" .. from a generator (the server sends it as it comes)
    /length     the length of the request body it read
    /hello      a short answer (the keep-alive clients ask it)
"""

from flask import Flask, request

app = Flask(__name__)


@app.route("/big/<int:size>")
def big(size: int) -> bytes:
    return b"x" * size


@app.route("/stream/<int:count>")
def stream(count: int):
    return app.response_class((b"%06d\n" % i for i in range(count)), mimetype="text/plain")


@app.route("/length", methods=["POST"])
def length() -> str:
    return str(len(request.get_data()))


@app.route("/hello")
def hello() -> str:
    return "Hello"
