"""Send hostile HTTP/1.1 requests as raw bytes to a Meinheld worker serving verify/app.py; check the answers.

Usage: [SPLIT=1] python hostile.py HOST PORT HITS_LOG [GUNICORN_LOG]
Checks per case: the expected status, no hidden request run (the app logs every request it runs to
HITS_LOG), and the worker still alive with the same pid. Exit status 1 if any case fails.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time

HOST, PORT, HITS_LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
GUNICORN_LOG = sys.argv[4] if len(sys.argv) > 4 else None
HIDDEN = b"GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"
CHUNKED_HIDDEN = b"%x\r\n" % len(HIDDEN) + HIDDEN + b"\r\n0\r\n\r\n"
REFUSED = {400}
SPLIT = os.environ.get("SPLIT") == "1"


def request(headers: list[bytes], body: bytes = b"", method: bytes = b"POST", path: bytes = b"/front",
            version: bytes = b"HTTP/1.1") -> bytes:
    head = method + b" " + path + b" " + version + b"\r\nHost: x\r\n"
    return head + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def te_cl(te_line: bytes) -> bytes:
    r"""TE.CL: Content-Length covers only the first chunk-size line; a server framing by it runs the hidden
    request, whose last field line swallows the end of the chunked body ("\r\n0\r\n\r\n")."""
    hidden = HIDDEN[:-2] + b"X-Pad: "
    first = b"%x\r\n" % len(hidden)
    return request([te_line, b"Content-Length: %d" % len(first)], first + hidden + b"\r\n0\r\n\r\n")


def cl_te(te_line: bytes) -> bytes:
    """CL.TE: Content-Length covers everything; a server framing by chunked runs HIDDEN."""
    body = b"0\r\n\r\n" + HIDDEN
    return request([te_line, b"Content-Length: %d" % len(body)], body)


def te_only(te_line: bytes, body: bytes = CHUNKED_HIDDEN) -> bytes:
    return request([te_line], body)


def body_is(expected: bytes):
    return lambda doc: doc["body"].encode("latin-1") == expected


def path_is(expected: str):
    return lambda doc: doc["path"] == expected


def header_is(key: str, value: str | None):
    return lambda doc: doc["headers"].get(key) == value


OK = [200]
# (name, raw bytes, expected status of each response in order (a set: any of them), check of the first
# response's JSON body or None)
CASES: list[tuple[str, bytes, list, object]] = [
    # valid chunked bodies, trailers included
    ("chunked body", te_only(b"Transfer-Encoding: chunked", b"5\r\nhello\r\n0\r\n\r\n"), OK, body_is(b"hello")),
    ("chunked + trailer field", te_only(b"Transfer-Encoding: chunked", b"5\r\nhello\r\n0\r\nX: y\r\n\r\n"),
     OK, body_is(b"hello")),
    ("chunked + ext + 2 trailers",
     te_only(b"Transfer-Encoding: chunked", b"5;a=1\r\nhello\r\n6\r\n world\r\n0\r\nA: 1\r\nB: 2\r\n\r\n"),
     OK, body_is(b"hello world")),
    ("TE: CHUNKED (case)", te_only(b"Transfer-Encoding: CHUNKED"), OK, body_is(HIDDEN)),
    ("TE: Chunked (case)", te_only(b"Transfer-Encoding: Chunked"), OK, body_is(HIDDEN)),
    ("transfer-encoding: (name case)", te_only(b"transfer-encoding: chunked"), OK, body_is(HIDDEN)),
    ("TRANSFER-ENCODING: (name case)", te_only(b"TRANSFER-ENCODING: chunked"), OK, body_is(HIDDEN)),
    ("TE: <HTAB>chunked<SP>", te_only(b"Transfer-Encoding:\tchunked "), OK, body_is(HIDDEN)),
    ("TE: , chunked (empty element)", te_only(b"Transfer-Encoding: , chunked"), OK, body_is(HIDDEN)),
    # chunk sizes with high bytes / overflow
    ("chunk size 0x80", te_only(b"Transfer-Encoding: chunked", b"\x80\r\nhello\r\n0\r\n\r\n"), REFUSED, None),
    ("chunk size 0xff", te_only(b"Transfer-Encoding: chunked", b"\xff\r\nX: y\r\n\r\n"), REFUSED, None),
    ("chunk size 1<0xff>", te_only(b"Transfer-Encoding: chunked", b"1\xff\r\nx\r\n0\r\n\r\n"), REFUSED, None),
    ("last chunk <0xff>", te_only(b"Transfer-Encoding: chunked", b"5\r\nhello\r\n\xff\r\nX: y\r\n\r\n"),
     REFUSED, None),
    ("chunk size overflow", te_only(b"Transfer-Encoding: chunked", b"fffffffffffffffff1\r\nx\r\n0\r\n\r\n"),
     [{400, 413}], None),
    ("chunk ext with bare LF", te_only(b"Transfer-Encoding: chunked", b"5;a\nb\r\nhello\r\n0\r\n\r\n"),
     REFUSED, None),
    ("chunk ext with NUL", te_only(b"Transfer-Encoding: chunked", b"5;a\x00b\r\nhello\r\n0\r\n\r\n"),
     REFUSED, None),
    ("chunk ext with HTAB, quotes", te_only(b"Transfer-Encoding: chunked", b'5;a="b\tc"\r\nhello\r\n0\r\n\r\n'),
     OK, body_is(b"hello")),
    # the path is %-decoded once, invalid escapes kept
    ("path %2561 decoded once", request([], path=b"/front/%2561dmin"), OK, path_is("/front/%61dmin")),
    ("path invalid escapes kept", request([], path=b"/front/%zz%4"), OK, path_is("/front/%zz%4")),
    # Transfer-Encoding codings (RFC 9112 6.1, 6.3)
    ("TE: xchunked", te_only(b"Transfer-Encoding: xchunked"), REFUSED, None),
    ("TE: chunkedx", te_only(b"Transfer-Encoding: chunkedx"), REFUSED, None),
    ("TE: gzip", te_only(b"Transfer-Encoding: gzip"), REFUSED, None),
    ("TE: gzip, chunked", te_only(b"Transfer-Encoding: gzip, chunked"), [{501}], None),
    ("TE: chunked, gzip", te_only(b"Transfer-Encoding: chunked, gzip"), REFUSED, None),
    ("TE: chunked, chunked", te_only(b"Transfer-Encoding: chunked, chunked"), REFUSED, None),
    ("TE: gzip + TE: chunked (2 fields)",
     te_only(b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"), [{501}], None),
    ("TE: (empty)", te_only(b"Transfer-Encoding: "), REFUSED, None),
    ("TE folded (obs-fold)", te_only(b"Transfer-Encoding:\r\n chunked"), REFUSED, None),
    ("TE: <VT>chunked", te_only(b"Transfer-Encoding: \x0bchunked"), REFUSED, None),
    ("TE: chunked<NUL>", te_only(b"Transfer-Encoding: chunked\x00"), REFUSED, None),
    ("TE<SP>: chunked", te_only(b"Transfer-Encoding : chunked"), REFUSED, None),
    ("TE chunked in HTTP/1.0",
     request([b"Transfer-Encoding: chunked"], CHUNKED_HIDDEN, version=b"HTTP/1.0"), REFUSED, None),
    # TE and Content-Length together: refused whatever the spelling (TE.CL and CL.TE payloads)
    *[(f"TE.CL {te!r}", te_cl(te), REFUSED, None) for te in [
        b"Transfer-Encoding: chunked", b"Transfer-Encoding: CHUNKED", b"transfer-encoding: chunked",
        b"Transfer-Encoding: xchunked", b"Transfer-Encoding: gzip, chunked", b"Transfer-Encoding: chunked, gzip",
        b"Transfer-Encoding:\r\n chunked", b"Transfer-Encoding: \x0bchunked", b"Transfer-Encoding: chunked\x00",
        b"Transfer-Encoding: \x01chunked", b"Transfer_Encoding: chunked", b"Transfer-Encoding: identity",
        b"X: a\nTransfer-Encoding: chunked"]],
    *[(f"CL.TE {te!r}", cl_te(te), REFUSED, None) for te in [
        b"Transfer-Encoding: chunked", b"Transfer-Encoding: CHUNKED", b"Transfer-Encoding: gzip, chunked"]],
    # field values and names
    ("NUL in value", request([b"X-A: a\x00b"]), REFUSED, None),
    ("CR in value", request([b"X-A: a\rb"]), REFUSED, None),
    ("bare LF in value", request([b"X-A: a\nX-B: b"]), REFUSED, None),
    ("VT in value", request([b"X-A: a\x0bb"]), REFUSED, None),
    ("DEL in value", request([b"X-A: a\x7fb"]), REFUSED, None),
    ("obs-fold", request([b"X-A: a\r\n b"]), REFUSED, None),
    ("field line without colon", request([b"X-A"]), REFUSED, None),
    ("bare LF line ends", b"GET /front HTTP/1.1\nHost: x\n\n", REFUSED, None),
    ("HTAB and obs-text in value", request([b"X-A: a\tb\xe9"]), OK, header_is("HTTP_X_A", "a\tb\xe9")),
    ("X_Test dropped", request([b"X_Test: under"]), OK, header_is("HTTP_X_TEST", None)),
    ("X-Test kept, X_Test dropped", request([b"X-Test: dash", b"X_Test: under"]), OK,
     header_is("HTTP_X_TEST", "dash")),
    ("Content_Length refused", request([b"Content_Length: 5"], b"hello"), REFUSED, None),
    # HTTP versions
    ("HTTP/1.0", request([], version=b"HTTP/1.0"), OK, None),
    ("HTTP/1.1", request([]), OK, None),
    ("HTTP/1.2", request([], version=b"HTTP/1.2"), [{505}], None),
    ("HTTP/2.0", request([], version=b"HTTP/2.0"), [{505}], None),
    ("HTTP/9.9", request([], version=b"HTTP/9.9"), [{505}], None),
    ("HTTP/0.9", request([], version=b"HTTP/0.9"), [{400, 505}], None),
    ("HTTP/1.10", request([], version=b"HTTP/1.10"), [{400, 505}], None),
    ("HTTP/11.1", request([], version=b"HTTP/11.1"), [{400, 505}], None),
    ("no version (0.9 line)", b"GET /front\r\n\r\n", REFUSED, None),
    ("http/1.1 lower case", request([], version=b"http/1.1"), REFUSED, None),
    # Content-Length
    ("CL: 1 2", request([b"Content-Length: 1 2"], b"x" * 12), REFUSED, None),
    ("CL: +5", request([b"Content-Length: +5"], b"hello"), REFUSED, None),
    ("CL: -1", request([b"Content-Length: -1"], b"hello"), REFUSED, None),
    ("CL: 5, 5", request([b"Content-Length: 5, 5"], b"hello"), REFUSED, None),
    ("CL twice", request([b"Content-Length: 5", b"Content-Length: 5"], b"hello"), REFUSED, None),
    ("CL: (empty)", request([b"Content-Length: "], HIDDEN), REFUSED, None),
    ("CL: 5<SP><SP>", request([b"Content-Length: 5  "], b"hello"), OK, body_is(b"hello")),
    # sizes and odd bytes
    ("200 header fields", request([b"X-%d: v" % i for i in range(200)]), REFUSED, None),
    ("9000-byte field value", request([b"X-A: " + b"v" * 9000]), [{400, 431}], None),
    ("100 KB header section", request([b"X-%d: %s" % (i, b"v" * 1000) for i in range(100)]),
     [{400, 431}], None),
    ("20 KB request target", request([], path=b"/" + b"a" * 20000), [{400, 414}], None),
    ("high byte in field name", request([b"X-\xe9: v"]), REFUSED, None),
    ("high byte in method", request([], method=b"G\xc9T"), REFUSED, None),
    ("NUL in request target", request([], path=b"/a\x00b"), REFUSED, None),
    # keep-alive and pipelining still work
    ("100 GETs pipelined", request([], method=b"GET", path=b"/p") * 100, [200] * 100, None),
    ("2 GETs pipelined", request([], method=b"GET") * 2, [200, 200], None),
    ("2 POSTs with CL pipelined", request([b"Content-Length: 5"], b"hello") * 2, [200, 200], body_is(b"hello")),
    ("POST CL then POST chunked pipelined",
     request([b"Content-Length: 5"], b"hello") + te_only(b"Transfer-Encoding: chunked", b"5\r\nhello\r\n0\r\n\r\n"),
     [200, 200], body_is(b"hello")),
    # upgrades
    ("CONNECT", b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", [{400, 405, 501}], None),
    ("Upgrade: h2c + CL body", request([b"Upgrade: h2c", b"Connection: Upgrade",
                                        b"Content-Length: %d" % len(HIDDEN)], HIDDEN), [{200, 400}], None),
    ("Upgrade: websocket + CL body", request([b"Upgrade: websocket", b"Connection: Upgrade",
                                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                                              b"Sec-WebSocket-Version: 13",
                                              b"Content-Length: %d" % len(HIDDEN)], HIDDEN, method=b"GET"),
     [{200, 400}], None),
]


def exchange(raw: bytes, idle: float = 0.6, total: float = 5.0) -> bytes:
    with socket.create_connection((HOST, PORT), timeout=total) as sock:
        if SPLIT:  # one byte per segment: every parser state must survive a read boundary
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                for i in range(len(raw)):
                    sock.sendall(raw[i:i + 1])
                    time.sleep(0.0005)
            except OSError:  # refused and closed before the rest was sent
                pass
        else:
            sock.sendall(raw)
        sock.settimeout(idle)
        data, deadline = b"", time.monotonic() + total
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data


def parse_responses(data: bytes) -> list[tuple[int, bytes]]:
    responses = []
    while data:
        match = re.match(rb"HTTP/\d\.\d (\d{3})[^\r\n]*\r\n", data)
        if not match:
            break
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            responses.append((int(match.group(1)), b""))
            break
        head, rest = data[:head_end], data[head_end + 4:]
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        size = int(length.group(1)) if length else len(rest)
        responses.append((int(match.group(1)), rest[:size]))
        data = rest[size:]
    return responses


def hits() -> list[str]:
    try:
        with open(HITS_LOG) as log:
            return log.read().splitlines()
    except FileNotFoundError:
        return []


def worker_pid() -> int | None:
    try:
        responses = parse_responses(exchange(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        return json.loads(responses[0][1])["pid"]
    except Exception:  # noqa: BLE001 - any failure means no live worker answered
        return None


def matches(expected, got: int) -> bool:
    return got in expected if isinstance(expected, set) else got == expected


def main() -> int:
    for _ in range(150):
        pid = worker_pid()
        if pid:
            break
        time.sleep(0.2)
    else:
        print("no worker answered")
        return 1
    failures = 0
    for name, raw, expected, check in CASES:
        before = len(hits())
        responses = parse_responses(exchange(raw))
        time.sleep(0.05)
        ran = hits()[before:]
        statuses = [status for status, _ in responses]
        problems = []
        if len(statuses) != len(expected) or not all(map(matches, expected, statuses)):
            problems.append(f"expected {expected}")
        if any("/hidden" in line for line in ran):
            problems.append("HIDDEN REQUEST RAN")
        if statuses and statuses[0] != 200 and ran:
            problems.append(f"refused but the app ran {ran}")
        if check and responses and responses[0][0] == 200:
            try:
                if not check(json.loads(responses[0][1])):
                    problems.append(f"body check failed: {responses[0][1][:200]!r}")
            except ValueError:
                problems.append(f"not JSON: {responses[0][1][:200]!r}")
        now = worker_pid()
        if now != pid:
            problems.append(f"WORKER CHANGED {pid} -> {now}")
            pid = now or pid
            time.sleep(1)
        failures += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {name:<45} got {statuses} {'; '.join(problems)}")
    if GUNICORN_LOG:
        with open(GUNICORN_LOG, errors="replace") as log:
            text = log.read()
        boots = text.count("Booting worker")
        bad = [line for line in text.splitlines() if re.search(r"SIGSEGV|SIGABRT|exited with code|WORKER TIMEOUT|"
                                                                 r"Traceback|SystemError", line)]
        print(f"gunicorn log: {boots} worker boot(s); {len(bad)} crash/traceback lines")
        for line in bad[:10]:
            print("   ", line)
        failures += boots != 1 or bool(bad)
    print(f"{len(CASES) - failures if failures <= len(CASES) else 0}/{len(CASES)} cases passed; "
          f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
