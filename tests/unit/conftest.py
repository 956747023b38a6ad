"""Unit tests of the shared runtime layer (shared/gunicorn_image): no Docker, no network.

Run from the repository root: `python3 -m pytest tests/unit`. Tests that need Gunicorn skip when it
is not installed (`pip install pytest gunicorn==27.0.1` to run them all).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Put shared/ first on sys.path so `import gunicorn_image` is the package under test, as /opt/image-layer is in the images.
SHARED = Path(__file__).resolve().parents[2] / "shared"
if str(SHARED) not in sys.path:
    sys.path.insert(0, str(SHARED))
sys.dont_write_bytecode = True  # no __pycache__ left in shared/, which the images copy


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """An empty stand-in for /app."""
    directory = tmp_path / "app"
    directory.mkdir()
    return directory
