"""How gthread workers tell a whole request head from a partial one (shared/gunicorn_image/patches/gthread_heads.py).

The real server is in tests/hostile/test_hostile_gthread_heads.py; here only the decisions."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from gunicorn_image.patches import gthread_heads
from gunicorn_image.patches.gthread_heads import COMPLETE, FIELDS_TOO_LARGE, PARTIAL, URI_TOO_LONG, head_state

LIMITS = (4094, 8190, 4096 + 101 * 8192 + 4)  # Gunicorn's defaults, as _limits gives them
LINE, FIELD, HEAD = LIMITS


@pytest.mark.parametrize("head,state", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", COMPLETE),
    (b"GET / HTTP/1.1\r\n\r\n", COMPLETE),
    (b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", COMPLETE),
    (b"GET / HTTP/1.1\nHost: x\n\n", COMPLETE),  # bare LF: the parser decides, not the reader
    (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", COMPLETE),
    (b"GET / HTTP/1.1\r\nHost: x\r\n", PARTIAL),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r", PARTIAL),
    (b"GET / HTT", PARTIAL),
    (b"\r\n\r\n\r\n", PARTIAL),  # empty lines before a request do not end a head
    (b"GET /" + b"a" * (LINE - 5), PARTIAL),  # a request line Gunicorn may still take (it decides)
    (b"GET /" + b"a" * LINE, URI_TOO_LONG),
    (b"\r\nGET /" + b"a" * LINE, URI_TOO_LONG),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * (FIELD - 3), PARTIAL),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * FIELD, FIELDS_TOO_LARGE),
    (b"GET / HTTP/1.1\r\nX: y\r\nX: " + b"a" * 10 * FIELD, FIELDS_TOO_LARGE),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (HEAD // 6 + 1), FIELDS_TOO_LARGE),
])
def test_head_state(head, state) -> None:
    assert head_state(head, *LIMITS) == state


def test_head_read_in_pieces_gets_the_state_of_the_whole() -> None:
    rng = random.Random(7)
    heads = [b"\r\nGET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\nbody", b"GET /b HTTP/1.1\r\nX: " + b"a" * 9000,
             b"GET /c HTTP/1.1\r\nHost: x\r\n"]
    for head in heads:
        for _ in range(200):
            cuts = sorted(rng.sample(range(1, len(head)), k=min(5, len(head) - 1)))
            seen, state = b"", PARTIAL
            for piece in (head[a:b] for a, b in zip([0] + cuts, cuts + [len(head)])):
                scanned, seen = len(seen), seen + piece
                state = head_state(bytearray(seen), *LIMITS, scanned)
                if state != PARTIAL:
                    break
            assert state == head_state(seen, *LIMITS), (head[:40], cuts)


@pytest.mark.parametrize("settings,expected", [
    ((4094, 100, 8190), LIMITS),
    ((0, 0, 0), (1024 * 1024, 8190, 1024 * 1024 + 2 + 32769 * 8192 + 4)),  # 0: Gunicorn's meanings
    ((9000, 40000, 20000), (8190, 20000, 8192 + 32769 * 20002 + 4)),  # Gunicorn's caps
    ((200, 10, 300), (200, 300, 202 + 11 * 302 + 4)),
])
def test_limits_follow_gunicorns_settings(settings, expected) -> None:
    line, fields, field_size = settings
    cfg = SimpleNamespace(limit_request_line=line, limit_request_fields=fields, limit_request_field_size=field_size)
    assert gthread_heads._limits(cfg) == expected


def test_other_workers_are_left_alone() -> None:
    pytest.importorskip("gunicorn", reason="gunicorn is not installed")
    worker = SimpleNamespace(enqueue_req=print, murder_pending=print)
    gthread_heads.apply(worker, 10.0)
    assert worker.enqueue_req is print and worker.murder_pending is print
