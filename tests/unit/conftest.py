"""Unit tests of the shared runtime layer (shared/startup): no Docker, no network.

Run from the repository root: `python3 -m pytest tests/unit`. Tests that need Gunicorn skip when it
is not installed (`pip install pytest gunicorn==27.0.1` to run them all).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
if str(SHARED) not in sys.path:
    sys.path.insert(0, str(SHARED))


def gunicorn_installed() -> bool:
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return True


needs_gunicorn = pytest.mark.skipif(not gunicorn_installed(), reason="gunicorn is not installed on this host")


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """An empty stand-in for /app."""
    directory = tmp_path / "app"
    directory.mkdir()
    return directory
