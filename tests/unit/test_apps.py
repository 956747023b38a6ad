"""Finding the app module, loading the app object, telling ASGI from WSGI."""

from __future__ import annotations

import asyncio
import functools
import sys
from pathlib import Path

import pytest
from gunicorn_image import apps


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["app/main.py", "main.py"], "app.main"),  # tiangolo checks /app/app/main.py first
        (["main.py"], "main"),
        (["app/main.py"], "app.main"),
        ([], None),
        (["other.py"], None),
    ],
)
def test_default_module_name_follows_tiangolos_rule(app_dir: Path, files: list[str], expected: str | None) -> None:
    for relative in files:
        (app_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (app_dir / relative).write_text("")
    assert apps.default_module_name(app_dir) == expected


def test_default_module_locations_are_named_for_the_error_message(app_dir: Path) -> None:
    assert apps.default_module_locations(app_dir) == [app_dir / "app" / "main.py", app_dir / "main.py"]


@pytest.mark.parametrize(
    ("app_module", "expected"),
    [
        ("main:app", ("main", "app")),
        ("pkg.mod:create_app()", ("pkg.mod", "create_app()")),
        ("pkg.wsgi", ("pkg.wsgi", "application")),  # Gunicorn's default name
    ],
)
def test_split_app_module(app_module: str, expected: tuple[str, str]) -> None:
    assert apps.split_app_module(app_module) == expected


@pytest.mark.parametrize(
    ("layout", "module", "findable"),
    [
        ({"main.py": ""}, "main", True),
        ({"app/__init__.py": "", "app/main.py": ""}, "app.main", True),
        ({"app/main.py": ""}, "app.main", True),  # namespace package
        ({"pkg/": None}, "pkg", True),
        ({"main.py": ""}, "missing_module_xyz", False),
        ({"main.py": ""}, "main.sub", False),
        ({"main.py": ""}, "not-a-name", False),
    ],
)
def test_module_is_findable_without_importing(app_dir: Path, layout: dict, module: str, findable: bool) -> None:
    for relative, text in layout.items():
        path = app_dir / relative
        if text is None:
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("raise SystemExit('imported!')\n")  # finding must not run it
    assert apps.module_is_findable(module, [str(app_dir)]) is findable


def test_installed_modules_are_findable_too() -> None:
    assert apps.module_is_findable("json.decoder", sys.path)


@pytest.mark.parametrize(
    ("expression", "parsed"),
    [
        ("app", ("app", None, {})),
        ("create_app()", ("create_app", (), {})),
        ("create_app('prod', debug=True)", ("create_app", ("prod",), {"debug": True})),
    ],
)
def test_parse_object_expression(expression: str, parsed: tuple) -> None:
    assert apps.parse_object_expression(expression) == parsed


@pytest.mark.parametrize("expression", ["app.attr", "create_app(x)", "1 +", "obj[0]"])
def test_bad_object_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(apps.AppLoadError):
        apps.parse_object_expression(expression)


@pytest.fixture
def importable(app_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """Write modules into a temporary /app that is on sys.path for this test."""
    monkeypatch.syspath_prepend(str(app_dir))
    written: list[str] = []

    def write(name: str, source: str) -> None:
        (app_dir / f"{name}.py").write_text(source)
        written.append(name)

    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_load_app_by_name_and_by_factory(importable) -> None:
    importable(
        "unit_factory_app",
        "def app(environ, start_response): pass\n"
        "def create_app(name='x'):\n    def inner(environ, start_response): pass\n    inner.name = name\n    return inner\n",
    )
    assert apps.load_app("unit_factory_app:app").__name__ == "app"
    assert apps.load_app("unit_factory_app:create_app('prod')").name == "prod"


@pytest.mark.parametrize(
    ("attribute", "message"),
    [("missing", "has no attribute 'missing'"), ("not_callable", "not a WSGI or ASGI application")],
)
def test_load_app_reports_a_missing_or_unusable_object(importable, attribute: str, message: str) -> None:
    importable("unit_bad_app", "not_callable = 42\n")
    with pytest.raises(apps.AppLoadError, match=message):
        apps.load_app(f"unit_bad_app:{attribute}")


def test_errors_in_the_users_module_propagate_with_their_traceback(importable) -> None:
    importable("unit_broken_app", "raise ValueError('bug in the app')\n")
    with pytest.raises(ValueError, match="bug in the app"):
        apps.load_app("unit_broken_app:app")


async def asgi_function(scope, receive, send):
    pass


class AsgiClass:
    async def __call__(self, scope, receive, send):
        pass


class Asgi2App:
    def __init__(self, scope):
        self.scope = scope


def wsgi_function(environ, start_response):
    return []


class WsgiClass:
    def __call__(self, environ, start_response):
        return []


def asgi_by_parameter_names(scope, receive, send):  # e.g. a decorator hiding the coroutine function
    pass


@pytest.mark.parametrize(
    ("app", "asgi"),
    [
        (asgi_function, True),
        (AsgiClass(), True),
        (Asgi2App, True),
        (functools.partial(asgi_by_parameter_names), True),
        (wsgi_function, False),
        (WsgiClass(), False),
        (functools.partial(wsgi_function), False),
        (print, False),
    ],
)
def test_asgi_apps_are_told_from_wsgi_apps(app, asgi: bool) -> None:
    assert apps.is_asgi_app(app) is asgi


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("async def app(scope, receive, send):\n    pass\n", apps.PROBE_ASGI),
        ("def app(environ, start_response):\n    return []\n", apps.PROBE_WSGI),
        ("app = None\n", apps.PROBE_UNUSABLE),
    ],
)
def test_probe_answers_with_its_exit_status(importable, source: str, expected: int, capsys) -> None:
    importable("unit_probe_app", source)
    assert apps.probe("unit_probe_app:app", "APP_MODULE") == expected
    if expected == apps.PROBE_UNUSABLE:
        assert capsys.readouterr().err.startswith('Error: app "unit_probe_app:app" (from APP_MODULE) is not usable')


@pytest.mark.parametrize(
    "source,name,expected",
    [
        ("app = object()\n", "app", True),
        ("from flask import Flask\napp = Flask(__name__)\n", "app", True),
        ("def create_app():\n    pass\n", "create_app", True),
        ("from .api import app\n", "app", True),
        ("import fastapi as app\n", "app", True),
        ("try:\n    app = 1\nexcept Exception:\n    pass\n", "app", True),
        ("if True:\n    with open('x') as app:\n        pass\n", "app", True),
        ("application: object = None\n", "application", True),
        ("app = object()\n", "api", False),
        ("def make():\n    api = 1\n", "api", False),  # bound inside a function only
        ("from somewhere import *\n", "api", None),  # a star import could bind anything
        ("def __getattr__(name):\n    return 1\n", "api", None),
        ("def broken(:\n", "app", None),  # a syntax error is left to the import, which shows the real error
    ],
)
def test_module_binds_reads_top_level_names_without_running_the_module(
    app_dir: Path, source: str, name: str, expected: bool | None
) -> None:
    (app_dir / "main.py").write_text(source)
    assert apps.module_binds("main", name, [str(app_dir)]) is expected


def test_module_binds_finds_packages_and_says_unknown_without_source(app_dir: Path) -> None:
    (app_dir / "pkg").mkdir()
    (app_dir / "pkg" / "__init__.py").write_text("app = 1\n")
    assert apps.module_binds("pkg", "app", [str(app_dir)]) is True
    assert apps.module_binds("nowhere", "app", [str(app_dir)]) is None


# --- ASGI 2 ("double callable") apps, told the way Uvicorn tells them ---------------------------------------


class _Asgi2Class:
    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": self.scope["path"].encode()})


def _asgi2_function(scope):
    async def instance(receive, send):
        await send({"type": "http.response.body", "body": b"fn"})

    return instance


async def _asgi3(scope, receive, send):
    pass


class _Asgi3Object:
    async def __call__(self, scope, receive, send):
        pass


@pytest.mark.parametrize(("app", "asgi2"), [
    (_Asgi2Class, True), (_asgi2_function, True), (_asgi3, False), (_Asgi3Object(), False),
    (functools.partial(_asgi3), False),
])
def test_asgi2_is_told_from_asgi3_the_way_uvicorn_does(app, asgi2: bool) -> None:
    from gunicorn_image.apps import is_asgi2_app, is_asgi_app

    assert is_asgi_app(app) and is_asgi2_app(app) is asgi2


def test_an_asgi2_app_is_served_as_asgi3() -> None:
    from gunicorn_image.apps import ASGI2App

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request"}

    asyncio.run(ASGI2App(_Asgi2Class)({"type": "http", "path": "/x"}, receive, send))
    assert sent[-1] == {"type": "http.response.body", "body": b"/x"}
