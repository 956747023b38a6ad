"""Worker-class names: Gunicorn's short names, dotted paths, deprecated uvicorn names, `auto`."""

from __future__ import annotations

import types

import pytest
from gunicorn_image import workers


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("uvicorn.workers.UvicornWorker", "uvicorn_worker.UvicornWorker"),
        ("uvicorn.workers.UvicornH11Worker", "uvicorn_worker.UvicornH11Worker"),
        ("  uvicorn.workers.UvicornWorker ", "uvicorn_worker.UvicornWorker"),
        ("uvicorn_worker.UvicornWorker", "uvicorn_worker.UvicornWorker"),
        ("meinheld.gmeinheld.MeinheldWorker", "meinheld.gmeinheld.MeinheldWorker"),
        ("gthread", "gthread"),
        ("auto", "auto"),
    ],
)
def test_deprecated_uvicorn_worker_names_map_to_uvicorn_worker(given: str, expected: str) -> None:
    assert workers.canonical_name(given) == expected


@pytest.mark.parametrize(
    ("name", "asgi"),
    [
        ("asgi", True),
        ("gunicorn.workers.gasgi.ASGIWorker", True),
        ("uvicorn_worker.UvicornWorker", True),
        ("uvicorn.workers.UvicornH11Worker", True),
        ("gthread", False),
        ("sync", False),
        ("meinheld.gmeinheld.MeinheldWorker", False),
    ],
)
def test_asgi_worker_classes_are_recognised(name: str, asgi: bool) -> None:
    assert workers.serves_asgi(name) is asgi


def fake_importer(available: dict[str, list[str]]):
    def import_module(name: str) -> types.ModuleType:
        if name not in available:
            raise ImportError(f"No module named {name!r}")
        module = types.ModuleType(name)
        for attribute in available[name]:
            setattr(module, attribute, type(attribute, (), {}))
        return module

    return import_module


IMAGE = fake_importer(
    {
        "gunicorn.workers.sync": ["SyncWorker"],
        "gunicorn.workers.gthread": ["ThreadWorker"],
        "gunicorn.workers.gasgi": ["ASGIWorker"],
        "uvicorn_worker": ["UvicornWorker", "UvicornH11Worker"],
    }
)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("auto", None),
        ("sync", None),
        ("gthread", None),
        ("asgi", None),
        ("uvicorn_worker.UvicornWorker", None),
        ("gevent", "cannot import gunicorn.workers.ggevent"),  # gevent not installed
        ("uvicorn_worker.Nope", "uvicorn_worker has no Nope"),
        ("meinheld.gmeinheld.MeinheldWorker", "cannot import meinheld.gmeinheld"),
        ("bogus", "not a known worker name"),
        ("a..b", "not a known worker name"),
        ("", "not a known worker name"),
    ],
)
def test_unknown_or_unimportable_worker_class_is_reported(name: str, problem: str | None) -> None:
    got = workers.check_worker_class(name, IMAGE)
    if problem is None:
        assert got is None, f"{name!r} should be accepted, got {got!r}"
    else:
        assert got is not None and problem in got, f"{name!r}: expected a problem containing {problem!r}, got {got!r}"


def test_without_an_importer_only_the_form_of_the_name_is_checked() -> None:
    assert workers.check_worker_class("not_installed.Worker", None) is None
    assert workers.check_worker_class("bogus", None) is not None


def test_a_module_failing_to_import_is_reported_not_raised() -> None:
    def broken(name: str) -> types.ModuleType:
        raise RuntimeError("boom")

    assert "RuntimeError: boom" in (workers.check_worker_class("x.Y", broken) or "")


def test_allowed_description_names_every_short_name() -> None:
    for name in workers.SHORT_NAMES:
        assert name in workers.ALLOWED_DESCRIPTION
