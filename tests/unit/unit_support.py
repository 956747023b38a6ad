"""What several unit-test modules share (not named conftest: tests/conftest.py exists for container tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


def gunicorn_installed() -> bool:
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return True


needs_gunicorn = pytest.mark.skipif(not gunicorn_installed(), reason="gunicorn is not installed on this host")
