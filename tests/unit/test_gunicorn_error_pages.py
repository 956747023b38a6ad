"""Gunicorn's error pages keep a CRLF-only head on every Python (shared/gunicorn_image/patches/gunicorn_error_pages.py)."""

from __future__ import annotations

import socket

import pytest

from gunicorn_image.patches import gunicorn_error_pages

util = pytest.importorskip("gunicorn.util", reason="gunicorn is not installed")


def _written_by_write_error(monkeypatch) -> bytes:
    written = []
    monkeypatch.setattr(util, "write_nonblock", lambda sock, data: written.append(data))
    util.write_error(None, 414, "URI Too Long", "Request Line is too large (4095 > 4094)")
    return b"".join(written)


def test_error_page_is_gunicorns_page_with_crlf_line_ends() -> None:
    page = gunicorn_error_pages.error_page(431, "Request Header Fields Too Large", "a <b> & c")
    head, _, body = page.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [b"HTTP/1.1 431 Request Header Fields Too Large", b"Connection: close",
                                   b"Content-Type: text/html", b"Content-Length: %d" % len(body)]
    assert b"\n" not in head.replace(b"\r\n", b"") and b"a &lt;b&gt; &amp; c" in body


def test_write_error_writes_a_well_formed_head_after_apply(monkeypatch) -> None:
    monkeypatch.setattr(util, "write_error", util.write_error)  # restored after the test
    gunicorn_error_pages.apply()
    data = _written_by_write_error(monkeypatch)
    assert data.startswith(b"HTTP/1.1 414 URI Too Long\r\n") and b"\r\n\r\n<html>" in data, data[:120]
    assert data == gunicorn_error_pages.error_page(414, "URI Too Long", "Request Line is too large (4095 > 4094)") \
        or not gunicorn_error_pages.dedent_eats_carriage_returns()


def test_gunicorn_is_left_alone_where_dedent_keeps_carriage_returns(monkeypatch) -> None:
    monkeypatch.setattr(gunicorn_error_pages, "dedent_eats_carriage_returns", lambda: False)
    original = util.write_error
    gunicorn_error_pages.apply()
    assert util.write_error is original


def test_patched_write_error_reaches_a_real_socket(monkeypatch) -> None:
    monkeypatch.setattr(util, "write_error", util.write_error)
    monkeypatch.setattr(gunicorn_error_pages, "dedent_eats_carriage_returns", lambda: True)  # as on Python 3.14+
    gunicorn_error_pages.apply()
    left, right = socket.socketpair()
    with left, right:
        util.write_error(left, 400, "Bad Request", "Invalid request")
        data = right.recv(4096)
    assert data == gunicorn_error_pages.error_page(400, "Bad Request", "Invalid request")
