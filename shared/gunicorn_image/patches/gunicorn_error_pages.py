"""Gunicorn's error pages keep a CRLF-only head on Python 3.14+ (applied in each new worker).

``gunicorn.util.write_error`` (every 400/414/431/... page Gunicorn's own parser sends) builds its head with
``textwrap.dedent`` from a template whose empty line is ``"    \\r"``. Since Python 3.14, ``dedent`` empties a
line of white space, ``\\r`` included, so the head ended in CRLF LF: strict clients and proxies could not read
the answer (seen on gunicorn 27.0.1). ``apply()`` puts in a ``write_error`` that writes the same page with CRLFs
only, where the installed one is affected.
"""

from __future__ import annotations

import html
import textwrap
from typing import Any

__all__ = ["apply", "error_page"]

PRIVATE_NAMES = ("gunicorn.util.write_error", "gunicorn.util.write_nonblock")


def error_page(status_int: int, reason: str, mesg: str) -> bytes:
    """Gunicorn's error page, byte for byte as it was before Python 3.14."""
    body = (f"<html>\n  <head>\n    <title>{reason}</title>\n  </head>\n  <body>\n"
            f"    <h1><p>{reason}</p></h1>\n    {html.escape(mesg)}\n  </body>\n</html>\n")
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return (head + body).encode("latin1")


def dedent_eats_carriage_returns() -> bool:
    return textwrap.dedent("    a\r\n    \r\n") != "a\r\n\r\n"


def apply() -> None:
    """Replace ``gunicorn.util.write_error`` where this Python breaks it; otherwise leave Gunicorn alone."""
    try:
        from gunicorn import util
    except ImportError:
        return
    if not dedent_eats_carriage_returns() or getattr(util.write_error, "fixed_by_gunicorn_image", False):
        return

    def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
        util.write_nonblock(sock, error_page(status_int, reason, mesg))

    write_error.fixed_by_gunicorn_image = True  # type: ignore[attr-defined]
    util.write_error = write_error


def apply_patch(worker: Any, cfg: Any, header_timeout: float | None) -> None:
    """The entry `gunicorn_image.patches.apply` calls."""
    apply()
