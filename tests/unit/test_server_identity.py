"""gunicorn_image.server_info() names the server that answered, for the example apps."""

from __future__ import annotations

import sys
import types

import pytest
import gunicorn_image
from gunicorn_image import server_identity


@pytest.fixture
def clean_identity(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(server_identity, "_recorded_worker_class", None)
    for name in list(sys.modules):
        if name.split(".")[0] in {"gunicorn", "uvicorn", "uvicorn_worker", "meinheld"}:
            monkeypatch.delitem(sys.modules, name)


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_recorded_worker_class_is_reported_with_its_public_path(clean_identity, monkeypatch) -> None:
    fake_module(monkeypatch, "gunicorn", __version__="27.0.1")
    fake_module(monkeypatch, "gunicorn.arbiter")
    worker_type = type("UvicornWorker", (), {"__module__": "uvicorn_worker._workers"})
    fake_module(monkeypatch, "uvicorn_worker._workers", UvicornWorker=worker_type)
    fake_module(monkeypatch, "uvicorn_worker", UvicornWorker=worker_type)
    server_identity.record_worker(worker_type())
    assert gunicorn_image.server_info() == "gunicorn/27.0.1 uvicorn_worker.UvicornWorker"


def test_worker_class_from_loaded_modules_when_the_hook_did_not_run(clean_identity, monkeypatch) -> None:
    fake_module(monkeypatch, "gunicorn", __version__="27.0.1")
    fake_module(monkeypatch, "gunicorn.arbiter")
    fake_module(monkeypatch, "meinheld.gmeinheld")
    assert gunicorn_image.server_info() == "gunicorn/27.0.1 meinheld.gmeinheld.MeinheldWorker"


def test_plain_uvicorn(clean_identity, monkeypatch) -> None:
    fake_module(monkeypatch, "uvicorn", __version__="0.54.0")
    assert gunicorn_image.server_info() == "uvicorn/0.54.0"


def test_fallback_names_python(clean_identity) -> None:
    assert gunicorn_image.server_info().startswith("python/")
