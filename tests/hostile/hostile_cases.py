"""The project's corpus of hostile HTTP/1.1 requests, as data.

Each ``Case`` holds the bytes to send (or how to send them, for slow clients, streams and floods) and what counts
as a pass. Whatever the case, the runner (``hostile_http.run_case``) also checks that no worker crashed, that no
hidden request ran (the app never served ``/smuggled-<nonce>``) and that the server answers ``GET /`` afterwards.

Paths carry the placeholder ``NONCE``, 12 bytes long, that the runner swaps for a fresh 12-character nonce per
run, so lengths computed here stay right. The first request of a case targets ``/t-NONCE``; a hidden
(smuggled) request targets ``/smuggled-NONCE`` and is built to run at once if the server frames the
message the unsafe way.

Expectations (``Case.expect``):

- ``SERVE``: a valid request; the first answer must be 200 (and the app must have read ``body_len`` bytes).
- ``REFUSE``: the app must not serve ``/t-NONCE``; the server answers 4xx/5xx (one of ``status_in`` if given)
  or closes the connection.
- ``EITHER``: served or refused, both are fine; if served, ``body_len`` and the header checks hold.
"""

from __future__ import annotations

from dataclasses import dataclass

NONCE = b"@@@NONCE@@@@"  # replaced by a 12-character nonce: same length, so Content-Lengths stay right
assert len(NONCE) == 12

SERVE, REFUSE, EITHER = "serve", "refuse", "either"
# How a case is sent:
SEND = "send"  # ``raw`` at once, then read every answer
TRICKLE = "trickle"  # ``raw``, then ``piece`` every ``interval`` s for ``duration`` s, while others are served
STREAM = "stream"  # ``raw``, then ``piece`` repeated up to ``total`` bytes (or ``duration`` s), while others are served
CONNECTIONS = "connections"  # ``count`` connections each sending ``raw``, held ``duration`` s, while others are served

HOST = b"Host: hostile.test\r\n"
TARGET = b"/t-" + NONCE
HIDDEN_PATH = b"/smuggled-" + NONCE
# A complete hidden request: it runs at once if a server takes it for the next request.
HIDDEN = b"GET " + HIDDEN_PATH + b" HTTP/1.1\r\n" + HOST + b"\r\n"
LIMIT_STATUSES = (400, 413, 414, 431)


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    raw: bytes
    expect: str = EITHER
    why: str = ""
    kind: str = SEND
    body_len: int | None = None  # when served: the body length the app must have read
    status_in: tuple[int, ...] = ()  # when refused with an answer: its status must be one of these
    app_must_not_see: tuple[str, ...] = ()  # header names (lower-case, "-") the app must not see
    app_sees: tuple[tuple[str, str], ...] = ()  # when served: header name -> exact value the app must see
    app_path: bytes | None = None  # when served: the decoded path the app must see (NONCE swapped too)
    must_serve: tuple[bytes, ...] = ()  # paths the app must have served (controls that the runner sees)
    # TRICKLE / STREAM / CONNECTIONS parameters
    piece: bytes = b""
    interval: float = 0.0
    duration: float = 0.0
    total: int = 0
    count: int = 0

    @property
    def id(self) -> str:
        return f"{self.category}-{self.name}"


def request(
    method: bytes = b"GET",
    target: bytes = TARGET,
    version: bytes = b"HTTP/1.1",
    headers: tuple[bytes, ...] = (),
    body: bytes = b"",
    host: bool = True,
) -> bytes:
    """One request: ``headers`` are raw lines without their CRLF."""
    head = method + b" " + target + b" " + version + b"\r\n" + (HOST if host else b"")
    return head + b"".join(line + b"\r\n" for line in headers) + b"\r\n" + body


def te_cl(te_lines: tuple[bytes, ...], te_first: bool = False) -> bytes:
    """Content-Length frames a chunk-size line only; the chunk data is a hidden request.

    A server that frames by Content-Length (it did not take the Transfer-Encoding for chunked) runs the
    hidden request: the chunked tail ``\\r\\n0\\r\\n\\r\\n`` is exactly the hidden request's 7-byte body.
    """
    hidden = b"GET " + HIDDEN_PATH + b" HTTP/1.1\r\n" + HOST + b"Content-Length: 7\r\n\r\n"
    size_line = b"%x\r\n" % len(hidden)
    body = size_line + hidden + b"\r\n0\r\n\r\n"
    cl = b"Content-Length: %d" % len(size_line)
    headers = (*te_lines, cl) if te_first else (cl, *te_lines)
    return request(b"POST", headers=headers, body=body)


def cl_te(te_lines: tuple[bytes, ...]) -> bytes:
    """Content-Length covers everything; the chunked body ends early and a hidden request follows.

    A server that frames by the chunked coding and keeps the connection open runs the hidden request.
    """
    body = b"0\r\n\r\n" + HIDDEN
    return request(b"POST", headers=(b"Content-Length: %d" % len(body), *te_lines), body=body)


def chunked(body: bytes, target: bytes = TARGET, headers: tuple[bytes, ...] = ()) -> bytes:
    return request(b"POST", target=target, headers=(b"Transfer-Encoding: chunked", *headers), body=body)


def cl_value(value: bytes) -> bytes:
    """A Content-Length with an odd value; the body is a hidden request, run if the value is read as 0."""
    return request(b"POST", headers=(b"Content-Length: " + value,), body=HIDDEN)


# Transfer-Encoding variants: (name, header lines, may a server take it for chunked?). Each is sent as TE.CL and
# CL.TE. The hidden-request check alone catches smuggling whatever the server makes of the variant; a variant
# that is not a chunked coding must also be refused (RFC 9112 6.1: an unknown or non-final coding gets 501 or
# 400; 5.1: no white space before the colon). "True" covers what RFC 9112 lets a server read as chunked: case,
# optional white space, empty list elements, an unfolded obs-fold, a bare LF taken as a line end; and what it may
# refuse (gzip before chunked, a parameter on chunked).
TE_VARIANTS: list[tuple[str, tuple[bytes, ...], bool]] = [
    ("plain", (b"Transfer-Encoding: chunked",), True),
    ("upper-value", (b"Transfer-Encoding: CHUNKED",), True),
    ("mixed-case-value", (b"Transfer-Encoding: cHuNkEd",), True),
    ("upper-name", (b"TRANSFER-ENCODING: chunked",), True),
    ("tab-before-value", (b"Transfer-Encoding:\tchunked",), True),
    ("no-space", (b"Transfer-Encoding:chunked",), True),
    ("trailing-space", (b"Transfer-Encoding: chunked ",), True),
    ("gzip-chunked", (b"Transfer-Encoding: gzip, chunked",), True),
    ("xchunked", (b"Transfer-Encoding: xchunked",), False),
    ("chunkedx", (b"Transfer-Encoding: chunkedx",), False),
    ("chunked-gzip", (b"Transfer-Encoding: chunked, gzip",), False),
    ("chunked-twice-list", (b"Transfer-Encoding: chunked, chunked",), False),
    ("chunked-twice-lines", (b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"), False),
    ("chunked-then-identity", (b"Transfer-Encoding: chunked", b"Transfer-Encoding: identity"), False),
    ("identity", (b"Transfer-Encoding: identity",), False),
    ("quoted", (b'Transfer-Encoding: "chunked"',), False),
    ("with-parameter", (b"Transfer-Encoding: chunked;q=1",), True),
    ("empty-list-element", (b"Transfer-Encoding: ,chunked",), True),
    ("space-before-colon", (b"Transfer-Encoding : chunked",), False),
    ("tab-before-colon", (b"Transfer-Encoding\t: chunked",), False),
    ("folded", (b"Transfer-Encoding:", b" chunked"), True),
    ("folded-after-other", (b"Transfer-Encoding: identity", b" chunked"), False),
    ("leading-space-line", (b" Transfer-Encoding: chunked",), False),
    ("vertical-tab", (b"Transfer-Encoding:\x0bchunked",), False),
    ("form-feed", (b"Transfer-Encoding:\x0cchunked",), False),
    ("nul-after", (b"Transfer-Encoding: chunked\x00",), False),
    ("nul-inside", (b"Transfer-Encoding: chu\x00nked",), False),
    ("cr-inside", (b"Transfer-Encoding: chu\rnked",), False),
    ("high-byte", (b"Transfer-Encoding: chunk\xe9d",), False),
    ("bare-lf-before", (b"X-Pad: 1\nTransfer-Encoding: chunked",), True),
]

CASES: list[Case] = []


def add(*cases: Case) -> None:
    CASES.extend(cases)


# --- controls: valid requests that must be served, so the runner is seen to notice what it looks for ---------

add(
    Case("get", "control", request(), SERVE, "a plain GET"),
    Case("post-content-length", "control", request(b"POST", headers=(b"Content-Length: 5",), body=b"hello"),
         SERVE, "a body framed by Content-Length", body_len=5),
    Case("post-chunked", "control", chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), SERVE,
         "a chunked body", body_len=11),
    Case("pipelined", "control",
         request() + request(target=b"/pipelined-" + NONCE) + request(target=b"/pipelined2-" + NONCE), SERVE,
         "three pipelined requests: all must run (shows that the runner sees a second request run)",
         must_serve=(b"/pipelined-" + NONCE, b"/pipelined2-" + NONCE)),
    Case("pipelined-after-chunked", "control",
         chunked(b"3\r\nabc\r\n0\r\n\r\n") + request(target=b"/pipelined-" + NONCE), SERVE,
         "a request after a chunked body must run", body_len=3, must_serve=(b"/pipelined-" + NONCE,)),
    Case("http10", "control", request(version=b"HTTP/1.0"), SERVE, "HTTP/1.0 is still HTTP/1.x"),
    Case("obs-text-value", "control", request(headers=(b"X-Test: caf\xe9",)), EITHER,
         "obs-text bytes in a value are allowed by RFC 9110"),
)

# --- smuggling: CL.TE, TE.CL and TE obfuscations --------------------------------------------------------------

for variant, lines, valid in TE_VARIANTS:
    why = "valid chunked coding" if valid else "not a valid chunked coding"
    add(
        Case(f"te-cl-{variant}", "smuggling", te_cl(lines), EITHER if valid else REFUSE,
             f"TE.CL, {why}: framing by Content-Length would run the hidden request"),
        Case(f"cl-te-{variant}", "smuggling", cl_te(lines), EITHER if valid else REFUSE,
             f"CL.TE, {why}: chunked framing on a kept-alive connection would run the hidden request"),
    )

add(
    Case("te-cl-te-first", "smuggling", te_cl((b"Transfer-Encoding: chunked",), te_first=True), EITHER,
         "TE.CL with Transfer-Encoding before Content-Length"),
    Case("te-only-unknown", "smuggling", request(b"POST", headers=(b"Transfer-Encoding: xchunked",), body=HIDDEN),
         REFUSE, "an unknown coding without Content-Length: a server that ignores it sees no body, then a request"),
    Case("duplicate-cl-small-first", "smuggling",
         request(b"POST", headers=(b"Content-Length: 0", b"Content-Length: %d" % len(HIDDEN)), body=HIDDEN),
         REFUSE, "two different Content-Lengths (first wins would run the hidden request)"),
    Case("duplicate-cl-small-last", "smuggling",
         request(b"POST", headers=(b"Content-Length: %d" % len(HIDDEN), b"Content-Length: 0"), body=HIDDEN),
         REFUSE, "two different Content-Lengths (last wins would run the hidden request)"),
    Case("duplicate-cl-same", "smuggling",
         request(b"POST", headers=(b"Content-Length: 5", b"Content-Length: 5"), body=b"hello"), EITHER,
         "two equal Content-Lengths may be merged (RFC 9110 8.6)", body_len=5),
    Case("cl-list-different", "smuggling", cl_value(b"0, %d" % len(HIDDEN)), REFUSE, "a list of two lengths"),
    Case("cl-list-same", "smuggling",
         request(b"POST", headers=(b"Content-Length: 5, 5",), body=b"hello"), EITHER, "a list of equal lengths",
         body_len=5),
    Case("cl-plus-sign", "smuggling", cl_value(b"+%d" % len(HIDDEN)), REFUSE, "a sign is not a digit"),
    Case("cl-minus-sign", "smuggling", cl_value(b"-%d" % len(HIDDEN)), REFUSE, "a negative length"),
    Case("cl-hex", "smuggling", cl_value(b"0x%x" % len(HIDDEN)), REFUSE, "hex is not a length"),
    Case("cl-space-inside", "smuggling", cl_value(b"%d %d" % (len(HIDDEN) // 10, len(HIDDEN) % 10)), REFUSE,
         "a space inside the digits"),
    Case("cl-decimal-point", "smuggling", cl_value(b"%d.0" % len(HIDDEN)), REFUSE, "a decimal point"),
    Case("cl-trailing-junk", "smuggling", cl_value(b"%dx" % len(HIDDEN)), REFUSE, "junk after the digits"),
    Case("cl-empty", "smuggling", cl_value(b""), REFUSE, "an empty Content-Length"),
    Case("cl-overflow", "smuggling", cl_value(b"18446744073709551616"), EITHER,
         "2**64 wraps to 0 in a 64-bit parser, which would then run the hidden request; waiting for 2**64 bytes"
         " or refusing are fine"),
    Case("cl-leading-zeros", "smuggling", cl_value(b"000%d" % len(HIDDEN)), EITHER,
         "leading zeros are digits: the hidden request is body", body_len=len(HIDDEN)),
    Case("cl-space-before-colon", "smuggling",
         request(b"POST", headers=(b"Content-Length : %d" % len(HIDDEN),), body=HIDDEN), REFUSE,
         "white space before the colon must be refused (RFC 9112 5.1)"),
    Case("cl-underscore-name", "smuggling",
         request(b"POST", headers=(b"Content_Length: %d" % len(request(target=b"/pipelined-" + NONCE)),),
                 body=request(target=b"/pipelined-" + NONCE)), EITHER,
         "Content_Length is not Content-Length: the app must not see it as one (what follows is then a real"
         " pipelined request)", app_must_not_see=("content-length",)),
    Case("te-underscore-name", "smuggling", cl_te((b"Transfer_Encoding: chunked",)), EITHER,
         "Transfer_Encoding is not Transfer-Encoding: the body is framed by Content-Length, or refused"),
    Case("get-with-body", "smuggling",
         request(headers=(b"Content-Length: %d" % len(HIDDEN),), body=HIDDEN), EITHER,
         "a GET with a body: ignoring the body (CL.0) would run the hidden request", body_len=len(HIDDEN)),
    Case("options-with-body", "smuggling",
         request(b"OPTIONS", headers=(b"Content-Length: %d" % len(HIDDEN),), body=HIDDEN), EITHER,
         "an OPTIONS with a body", body_len=len(HIDDEN)),
    Case("http10-chunked", "smuggling", request(b"POST", version=b"HTTP/1.0",
         headers=(b"Transfer-Encoding: chunked", b"Content-Length: 8"), body=b"0\r\n\r\n" + b"GET"), EITHER,
         "chunked in an HTTP/1.0 request, with Content-Length"),
)

# --- framing: chunked bodies ----------------------------------------------------------------------------------

add(
    Case("trailer", "framing", chunked(b"5\r\nhello\r\n0\r\nX-Trailer: y\r\n\r\n"), EITHER,
         "a valid trailer field (crashed Meinheld 1.0.2)", body_len=5),
    Case("trailer-two-fields", "framing", chunked(b"5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n"), EITHER,
         "two trailer fields", body_len=5),
    Case("trailer-content-length", "framing", chunked(b"5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n"), EITHER,
         "a framing field in the trailer must not change the framing", body_len=5),
    Case("trailer-hidden-after", "framing",
         chunked(b"5\r\nhello\r\n0\r\nX-Trailer: y\r\n\r\n") + request(target=b"/pipelined-" + NONCE), EITHER,
         "a request after a trailer is a real pipelined request", body_len=5),
    Case("chunk-size-high-byte", "framing", chunked(b"\x85\r\nhello\r\n0\r\n\r\n"), REFUSE,
         "a chunk-size byte >= 0x80 (crashed Meinheld 1.0.2)"),
    Case("chunk-size-high-byte-after-digit", "framing", chunked(b"5\xff\r\nhello\r\n0\r\n\r\n"), REFUSE,
         "a high byte after a hex digit"),
    Case("chunk-size-0x", "framing", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), REFUSE, "0x is not hex digits"),
    Case("chunk-size-negative", "framing", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), REFUSE, "a negative size"),
    Case("chunk-size-empty", "framing", chunked(b"\r\nhello\r\n0\r\n\r\n"), REFUSE, "no size at all"),
    Case("chunk-size-space-inside", "framing", chunked(b"1 0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"), REFUSE,
         "a space inside the size"),
    Case("chunk-size-huge", "framing", chunked(b"ffffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), REFUSE,
         "a size that overflows 64 bits"),
    Case("chunk-size-overflow-wraps-to-small", "framing",
         chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n" + HIDDEN), REFUSE,
         "a size that wraps to 5 on overflow"),
    Case("chunk-size-big-unfinished", "framing", chunked(b"fffffff\r\nhello"), EITHER,
         "a large size with little data: waiting or refusing are fine, crashing is not"),
    Case("chunk-ext-valid", "framing", chunked(b"5;name=value\r\nhello\r\n0\r\n\r\n"), EITHER,
         "a valid chunk extension", body_len=5),
    Case("chunk-ext-quoted", "framing", chunked(b'5;name="a b"\r\nhello\r\n0\r\n\r\n'), EITHER,
         "a quoted chunk extension", body_len=5),
    Case("chunk-ext-nul", "framing", chunked(b"5;a\x00b\r\nhello\r\n0\r\n\r\n"), REFUSE,
         "NUL in a chunk extension"),
    Case("chunk-ext-bare-lf", "framing", chunked(b"5;\nhello\r\n0\r\n\r\n" + HIDDEN), REFUSE,
         "a bare LF ends a chunk extension (TERM.EXT)"),
    Case("chunk-ext-bare-cr", "framing", chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), REFUSE,
         "a bare CR in a chunk extension"),
    Case("chunk-data-too-long", "framing", chunked(b"3\r\nhello\r\n0\r\n\r\n"), REFUSE,
         "more data than the size says"),
    Case("chunk-data-no-crlf", "framing", chunked(b"5\r\nhelloXX0\r\n\r\n"), REFUSE, "no CRLF after the data"),
    Case("chunk-bare-lf-terminators", "framing", chunked(b"5\nhello\n0\n\n"), EITHER,
         "bare LF line ends in the chunked body", body_len=5),
    Case("chunk-lf-after-data", "framing", chunked(b"5\r\nhello\n0\r\n\r\n" + HIDDEN), EITHER,
         "a bare LF after chunk data (TERM.LF)"),
    Case("chunk-last-missing-crlf-then-request", "framing",
         chunked(b"5\r\nhello\r\n0\r\n") + HIDDEN, EITHER,
         "no blank line after the last chunk: the next bytes are trailer fields, not a request"),
    Case("body-longer-than-cl", "framing",
         request(b"POST", headers=(b"Content-Length: 3",), body=b"abc" + request(target=b"/pipelined-" + NONCE)),
         SERVE, "bytes after a Content-Length body are the next request", body_len=3,
         must_serve=(b"/pipelined-" + NONCE,)),
)

# --- versions and request lines -------------------------------------------------------------------------------

add(
    Case("http-2.0", "version", request(version=b"HTTP/2.0"), EITHER,
         "an HTTP/2.0 request line (not the HTTP/2 preface): Gunicorn refuses it, llhttp (Uvicorn) serves it as"
         " HTTP/1.x; neither frames it differently"),
    Case("http-9.9", "version", request(version=b"HTTP/9.9"), REFUSE, "no such version"),
    Case("http-1.2", "version", request(version=b"HTTP/1.2"), EITHER,
         "a higher minor version may be served as HTTP/1.1 (RFC 9110 2.5)"),
    Case("http-0.9", "version", b"GET " + TARGET + b"\r\n\r\n", EITHER,
         "an HTTP/0.9 request line: Gunicorn refuses it, llhttp (Uvicorn) serves it"),
    Case("http2-preface", "version", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", REFUSE,
         "the HTTP/2 connection preface on an HTTP/1 port"),
    Case("http-1.10", "version", request(version=b"HTTP/1.10"), REFUSE, "two-digit minor version"),
    Case("http-01.1", "version", request(version=b"HTTP/01.1"), REFUSE, "two-digit major version"),
    Case("http-lower-case", "version", request(version=b"http/1.1"), REFUSE, "the version is case-sensitive"),
    Case("https-version", "version", request(version=b"HTTPS/1.1"), REFUSE, "not HTTP"),
    Case("http-no-minor", "version", request(version=b"HTTP/1"), REFUSE, "no minor version"),
    Case("version-nul", "version", request(version=b"HTTP/1.1\x00"), REFUSE, "NUL after the version"),
    Case("method-nul", "request-line", request(method=b"G\x00ET"), REFUSE, "NUL in the method"),
    Case("method-lower-case", "request-line", request(method=b"get"), EITHER, "methods are case-sensitive tokens"),
    Case("method-invalid-char", "request-line", request(method=b"GE(T"), REFUSE, "not a token"),
    Case("target-nul", "request-line", request(target=TARGET + b"\x00x"), REFUSE, "NUL in the target"),
    Case("target-space", "request-line", request(target=TARGET + b" x"), REFUSE, "a space in the target"),
    Case("target-tab", "request-line", request(target=TARGET + b"\tx"), REFUSE, "a tab in the target"),
    Case("target-control", "request-line", request(target=TARGET + b"\x01"), REFUSE, "a control byte"),
    Case("target-empty", "request-line", b"GET  HTTP/1.1\r\n" + HOST + b"\r\n", REFUSE, "no target"),
    Case("double-space", "request-line", b"GET  " + TARGET + b" HTTP/1.1\r\n" + HOST + b"\r\n", EITHER,
         "two spaces after the method"),
    Case("absolute-form", "request-line", request(target=b"http://hostile.test" + TARGET), EITHER,
         "absolute-form target"),
    Case("bare-lf-request", "request-line", b"GET " + TARGET + b" HTTP/1.1\nHost: hostile.test\n\n", EITHER,
         "bare LF line ends (RFC 9112 2.2 allows accepting them)"),
    Case("leading-crlf", "request-line", b"\r\n" + request(), EITHER, "an empty line before the request"),
    Case("no-host", "request-line", request(host=False), EITHER, "HTTP/1.1 without Host"),
    Case("two-hosts", "request-line", request(headers=(b"Host: other.test",)), EITHER, "two Host fields"),
    Case("target-double-encoded", "request-line", request(target=TARGET + b"/%2561dmin"), SERVE,
         "%25 decodes to a literal %, once: decoding twice turns /%2561dmin into /admin behind a proxy's back",
         app_path=TARGET + b"/%61dmin"),
    Case("target-invalid-escape", "request-line", request(target=TARGET + b"/%zz%4"), EITHER,
         "an invalid %-escape stays as it is (or is refused), never becomes some other byte",
         app_path=TARGET + b"/%zz%4"),
)

# --- header fields: NUL/CR/LF, names ----------------------------------------------------------------------------

add(
    Case("value-nul", "header", request(headers=(b"X-Test: a\x00b",)), REFUSE, "NUL in a value (RFC 9110 5.5)"),
    Case("value-nul-start", "header", request(headers=(b"X-Test: \x00b",)), REFUSE, "NUL first in a value"),
    Case("value-cr", "header", request(headers=(b"X-Test: a\rb",)), REFUSE, "a bare CR in a value"),
    Case("value-cr-end", "header", request(headers=(b"X-Test: a\r",)), REFUSE, "CR CR LF"),
    Case("value-lf-new-field", "header", request(headers=(b"X-Test: a\nX-Other: b",)), EITHER,
         "a bare LF inside a line may end it (RFC 9112 2.2)"),
    Case("value-control", "header", request(headers=(b"X-Test: a\x01b",)), EITHER, "a control byte in a value"),
    Case("value-del", "header", request(headers=(b"X-Test: a\x7fb",)), EITHER, "DEL in a value"),
    Case("name-nul", "header", request(headers=(b"X-T\x00est: a",)), REFUSE, "NUL in a name"),
    Case("name-space-before-colon", "header", request(headers=(b"X-Test : a",)), REFUSE,
         "white space before the colon (RFC 9112 5.1)"),
    Case("name-space-inside", "header", request(headers=(b"X Test: a",)), REFUSE, "a space in a name"),
    Case("name-no-colon", "header", request(headers=(b"X-Test a",)), REFUSE, "no colon"),
    Case("name-empty", "header", request(headers=(b": a",)), REFUSE, "an empty name"),
    Case("name-high-byte", "header", request(headers=(b"X-T\xe9st: a",)), REFUSE, "a non-token byte in a name"),
    Case("name-delimiter", "header", request(headers=(b"X-Te(st: a",)), REFUSE, "a delimiter in a name"),
    Case("name-underscore", "header", request(headers=(b"X_Test: spoofed",)), EITHER,
         "X_Test must not reach the app as X-Test (CGI/WSGI maps both to HTTP_X_TEST)",
         app_must_not_see=("x-test",)),
    Case("name-underscore-and-dash", "header", request(headers=(b"X-Test: good", b"X_Test: spoofed")), EITHER,
         "an underscore twin must not override or join the real field", app_sees=(("x-test", "good"),)),
    Case("name-underscore-dash-reversed", "header", request(headers=(b"X_Test: spoofed", b"X-Test: good")),
         EITHER, "the same with the twin first", app_sees=(("x-test", "good"),)),
    Case("obs-fold", "header", request(headers=(b"X-Test: a", b" b")), EITHER,
         "obsolete line folding: refuse or unfold"),
    Case("first-line-folded", "header", request(headers=(b" X-Test: a",), host=False), EITHER,
         "white space before the first field line (RFC 9112 2.2)"),
    Case("expect-unknown", "header", request(headers=(b"Expect: 200-ok",)), EITHER, "an unknown expectation"),
)

# --- limits ------------------------------------------------------------------------------------------------------


def _target_for_line(length: int) -> bytes:
    """A target that makes ``GET <target> HTTP/1.1`` exactly ``length`` bytes long."""
    pad = length - len(b"GET  HTTP/1.1") - len(TARGET) - 1
    return TARGET + b"?" + b"a" * pad


_FIELDS_100 = tuple(b"X-F%d: v" % i for i in range(99))  # + Host = 100 fields
_FIELD_8190 = b"X-Big: " + b"a" * (8190 - len(b"X-Big: \r\n"))  # the line with its CRLF is 8190 bytes

add(
    Case("request-line-4094", "limits", request(target=_target_for_line(4094)), SERVE,
         "a request line of 4094 bytes, Gunicorn's default limit: served"),
    Case("request-line-64k", "limits", request(target=_target_for_line(65536)), REFUSE,
         "a request line of 64 KiB", status_in=LIMIT_STATUSES),
    Case("fields-100", "limits", request(headers=_FIELDS_100), SERVE,
         "100 header fields, Gunicorn's default limit: served"),
    Case("fields-1000", "limits", request(headers=tuple(b"X-F%d: v" % i for i in range(1000))), REFUSE,
         "1000 header fields", status_in=LIMIT_STATUSES),
    Case("field-8190", "limits", request(headers=(_FIELD_8190,)), SERVE,
         "a header line of 8190 bytes, Gunicorn's default limit: served"),
    Case("field-64k", "limits", request(headers=(b"X-Big: " + b"a" * 65536,)), REFUSE,
         "a header value of 64 KiB", status_in=LIMIT_STATUSES),
    Case("name-64k", "limits", request(headers=(b"X-" + b"a" * 65536 + b": v",)), REFUSE,
         "a header name of 64 KiB", status_in=LIMIT_STATUSES),
    Case("head-1mib", "limits", request(headers=tuple(b"X-F%d: " % i + b"a" * 8000 for i in range(128))), REFUSE,
         "128 fields of 8000 bytes (1 MiB of head)", status_in=LIMIT_STATUSES),
    Case("huge-header-128mib", "limits", request(b"GET", headers=(b"X-Big: ",))[:-4], REFUSE,
         "a 128 MiB header value streamed (stalled Uvicorn + httptools for ~22 s); others must be served",
         kind=STREAM, piece=b"a" * 65536, total=128 * 1024 * 1024, duration=40.0, status_in=LIMIT_STATUSES),
    Case("huge-request-line-16mib", "limits", b"GET " + TARGET + b"?", REFUSE,
         "a 16 MiB request line streamed", kind=STREAM, piece=b"a" * 65536, total=16 * 1024 * 1024,
         duration=30.0, status_in=LIMIT_STATUSES),
    Case("many-fields-streamed", "limits", b"GET " + TARGET + b" HTTP/1.1\r\n" + HOST, REFUSE,
         "16 MiB of tiny header fields streamed", kind=STREAM, piece=b"X-F: v\r\n" * 8192,
         total=16 * 1024 * 1024, duration=30.0, status_in=LIMIT_STATUSES),
)

# --- slow clients -------------------------------------------------------------------------------------------------

add(
    Case("slowloris-headers", "slow", b"GET " + TARGET + b" HTTP/1.1\r\n" + HOST, EITHER,
         "one header line every 0.5 s for 6 s; others must be served meanwhile", kind=TRICKLE,
         piece=b"X-Slow: 1\r\n", interval=0.5, duration=6.0),
    Case("slow-request-line", "slow", b"GET " + TARGET + b"?", EITHER,
         "one byte of the request line every 0.25 s for 6 s",
         kind=TRICKLE, piece=b"a", interval=0.25, duration=6.0),
    Case("slow-body", "slow", request(b"POST", headers=(b"Content-Length: 1000",)), EITHER,
         "one byte of body every 0.25 s for 6 s", kind=TRICKLE, piece=b"a", interval=0.25, duration=6.0),
    Case("idle-connections", "slow", b"", EITHER, "200 connections that send nothing, held 6 s",
         kind=CONNECTIONS, count=200, duration=6.0),
    Case("partial-head-connections", "slow", b"GET " + TARGET + b" HTTP/1.1\r\n" + HOST, EITHER,
         "200 connections that send half a head, held 6 s", kind=CONNECTIONS, count=200, duration=6.0),
)

# --- found by make fuzz (flask/meinheld/fuzz): each case replays what a Meinheld patch fixes -----------------

add(
    Case("repeated-fields", "header", request(headers=tuple(b"X-Dup: " + b"d" * 60 for _ in range(90))), SERVE,
         "90 fields of one name are joined into one value (Meinheld leaked a string per repeat: patch 13)"),
    Case("field-name-ends-a-read", "slow", b"GET " + TARGET + b" HTTP/1.1\r\n" + HOST + b"X-Name", EITHER,
         "every read ends right after a field name and the next starts with its colon (Meinheld made a"
         " zero-length array: patch 12)", kind=TRICKLE, piece=b": v\r\nX-Name", interval=0.05, duration=1.5),
)

# --- floods -------------------------------------------------------------------------------------------------------

add(
    Case("pipelined-1000", "flood", request(target=b"/flood-" + NONCE) * 1000, EITHER,
         "1000 pipelined requests in one write"),
    Case("pipelined-posts-500", "flood",
         request(b"POST", target=b"/flood-" + NONCE, headers=(b"Content-Length: 5",), body=b"hello") * 500,
         EITHER, "500 pipelined POSTs in one write"),
    Case("tiny-chunks", "flood", chunked(b"1\r\na\r\n" * 100000 + b"0\r\n\r\n"), EITHER,
         "100000 one-byte chunks", body_len=100000),
    Case("many-connections", "flood", request(), EITHER, "300 connections, each with a full request",
         kind=CONNECTIONS, count=300, duration=2.0),
)

_ids = [case.id for case in CASES]
assert len(_ids) == len(set(_ids)), "case ids must be unique"
