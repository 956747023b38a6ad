"""Functional checks that exercise Meinheld's greenlet paths: big and streamed responses to slow readers,
big request bodies (memory and temp-file), many concurrent keep-alive clients. Usage: python functional.py PORT"""
import concurrent.futures
import http.client
import socket
import sys
import time

PORT = int(sys.argv[1])
for _ in range(150):  # wait for the server
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
        break
    except OSError:
        time.sleep(0.2)


def get(path, body=None, headers=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def slow_reader(path, pause=0.2):
    with socket.create_connection(("127.0.0.1", PORT), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        time.sleep(pause)  # the server's send buffer fills: the response must suspend and resume
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
        return data


def chunks(data, size=65536):
    for i in range(0, len(data), size):
        yield data[i:i + size]


checks = []
status, data = get("/big/20000000")
checks.append(("20 MB response", status == 200 and len(data) == 20_000_000))
data = slow_reader("/big/8000000")
checks.append(("8 MB response to a slow reader", data.endswith(b"x" * 1000) and b"200 OK" in data[:100]
                and len(data.split(b"\r\n\r\n", 1)[1]) == 8_000_000))
status, data = get("/stream/100000")
checks.append(("streamed 100000 pieces", status == 200 and len(data) == 700_000))
status, data = get("/length", body=b"y" * 5_000_000, method="POST")
checks.append(("5 MB Content-Length body", status == 200 and data == b"5000000"))
status, data = get("/length", body=chunks(b"z" * 3_000_000), method="POST")  # http.client sends it chunked
checks.append(("3 MB chunked body", status == 200 and data == b"3000000"))


def keepalive_client(_):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    ok = 0
    for _ in range(50):
        conn.request("GET", "/hello")
        resp = conn.getresponse()
        ok += resp.status == 200 and resp.read().startswith(b"Hello")
    conn.close()
    return ok


with concurrent.futures.ThreadPoolExecutor(64) as pool:
    total = sum(pool.map(keepalive_client, range(64)))
checks.append(("64 keep-alive clients x 50 requests", total == 64 * 50))
for name, good in checks:
    print(f"{'ok  ' if good else 'FAIL'} {name}")
sys.exit(0 if all(good for _, good in checks) else 1)
