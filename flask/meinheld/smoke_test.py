"""Build-time smoke test of the patched Meinheld: serve a tiny WSGI app, send four requests, check the answers.

Run by build.sh with the venv the wheel was installed in: python smoke_test.py
"""

import re
import socket
import subprocess
import sys
import time

SERVER = """
import sys
from meinheld import server

def app(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

server.set_access_logger(None)
server.listen(("127.0.0.1", int(sys.argv[1])))
server.run(app)
"""
HIDDEN = b"GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"
CASES = [  # (what, request, expected status, expected body or None)
    ("GET", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, b""),
    ("chunked with a trailer field",
     b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n", 200, b"hello"),
    ("chunk size byte 0xff", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\xff\r\nX: y\r\n\r\n",
     400, None),
    ("Transfer-Encoding: CHUNKED with Content-Length",
     b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\nContent-Length: 4\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
     % (len(HIDDEN), HIDDEN), 400, None),
]


def exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        sock.settimeout(0.5)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                return data
            if not chunk:
                return data
            data += chunk


def main() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    failures = 0
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        for what, raw, status, body in CASES:
            answer = exchange(port, raw)
            statuses = [int(code) for code in re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3}) ", answer)]
            good = statuses == [status] and (body is None or answer.endswith(b"\r\n\r\n" + body))
            good = good and server.poll() is None
            failures += not good
            print(f"meinheld smoke test: {'ok' if good else 'FAILED'}: {what}: got {statuses}, want [{status}]"
                  f"{'' if server.poll() is None else f'; server exited with {server.returncode}'}")
    finally:
        server.kill()
        server.wait()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
