"""Finding and inspecting the user's app (a leaf: imports nothing of ours).

- `default_module_name`: tiangolo's rule, `app.main` if /app/app/main.py exists, else `main` if
  /app/main.py exists.
- `module_is_findable`: whether `import <module>` could work, answered without running the user's code
  where possible (the module's file is looked up on the search path).
- `load_app` / `is_asgi_app`: import the app the way Gunicorn does (`module:name` or `module:factory()`)
  and tell an ASGI app from a WSGI one. Only the `auto` worker class and the reload script need this,
  and they do it in a child process, `python -m gunicorn_image.apps APP_MODULE SOURCE`, run as the workers'
  account: the app's import-time side effects (files it creates) then belong to that account, and the
  start script's own process stays clean. The child answers with its exit status (see `probe`).
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

APP_DIR = Path("/app")

# (module name, file that must exist relative to the app dir), in the order tiangolo checks them.
DEFAULT_MODULE_CANDIDATES = (("app.main", "app/main.py"), ("main", "main.py"))


# Exit statuses of `python -m gunicorn_image.apps`: the kind of app, or why there is no answer.
PROBE_WSGI = 90
PROBE_ASGI = 91
PROBE_UNUSABLE = 2  # AppLoadError: one line on stderr
# Anything else: the app's own import failed (Python printed the traceback, status 1) or it exited itself.


class AppLoadError(Exception):
    """The app module imported, but the object named in APP_MODULE is not there or not usable."""


def default_module_name(app_dir: Path = APP_DIR) -> str | None:
    for module_name, relative_file in DEFAULT_MODULE_CANDIDATES:
        if (app_dir / relative_file).is_file():
            return module_name
    return None


def default_module_locations(app_dir: Path = APP_DIR) -> list[Path]:
    """Where `default_module_name` looks, for error messages."""
    return [app_dir / relative_file for _, relative_file in DEFAULT_MODULE_CANDIDATES]


def split_app_module(app_module: str) -> tuple[str, str]:
    """`pkg.mod:name` -> (`pkg.mod`, `name`); Gunicorn's default name is `application`."""
    module_name, separator, object_expression = app_module.partition(":")
    return module_name, (object_expression if separator else "application")


def module_is_findable(module_name: str, search_path: Sequence[str]) -> bool:
    """Whether `module_name` can be imported from `search_path`.

    First the file system is searched (`a/b.py`, `a/b/__init__.py`, a namespace directory, an
    extension module) so the user's code does not run yet. Modules installed with an import hook
    (editable installs) are not files on the path; for them importlib is asked, which imports the
    parent packages.
    """
    parts = module_name.split(".")
    if not all(part.isidentifier() for part in parts):
        return False
    for entry in search_path:
        base = Path(entry or ".").joinpath(*parts)
        if base.is_dir():
            return True  # a package, or a namespace package
        if any(base.with_name(base.name + suffix).is_file() for suffix in importlib.machinery.all_suffixes()):
            return True
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False


def module_source(module_name: str, search_path: Sequence[str]) -> Path | None:
    """The `.py` file of a module on `search_path` (`a/b.py` or `a/b/__init__.py`), if it has one."""
    parts = module_name.split(".")
    for entry in search_path:
        base = Path(entry or ".").joinpath(*parts)
        for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _top_level_statements(statements: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import time: the module body and the blocks of its if/try/with/for."""
    for node in statements:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _top_level_statements(getattr(node, field, []))
        for handler in getattr(node, "handlers", []):
            yield from _top_level_statements(handler.body)


def _bound_names(statements: list[ast.stmt]) -> tuple[set[str], bool]:
    """Names a module binds at import time, and whether a star import or a module `__getattr__`
    makes the answer unknowable."""
    names: set[str] = set()
    star_import = False
    for node in _top_level_statements(statements):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            star_import = star_import or any(alias.name == "*" for alias in node.names)
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        else:  # assignments, for/with targets, walrus: every name stored by the statement itself
            own = [node] if not hasattr(node, "body") else [
                getattr(node, "target", None), *[item.optional_vars for item in getattr(node, "items", [])]]
            for part in own:
                if part is not None:
                    names.update(n.id for n in ast.walk(part) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return names, star_import or "__getattr__" in names


def module_binds(module_name: str, name: str, search_path: Sequence[str]) -> bool | None:
    """Whether the module's source binds `name` at top level, read without running it; None when
    that cannot be told (no source file, a syntax error, a star import, a module `__getattr__`)."""
    source = module_source(module_name, search_path)
    if source is None:
        return None
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except (SyntaxError, ValueError, OSError):
        return None  # the import will report it with the traceback the user needs
    names, unknowable = _bound_names(tree.body)
    return True if name in names else (None if unknowable else False)


def parse_object_expression(expression: str) -> tuple[str, tuple[Any, ...] | None, dict[str, Any]]:
    """`app` -> ("app", None, {}); `create_app('prod', debug=True)` -> ("create_app", ("prod",), {...}).

    The same forms Gunicorn accepts: a name, or a call of a name with literal arguments.
    """
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError as error:
        raise AppLoadError(f"{expression!r} is not a name or a call like create_app()") from error
    if isinstance(node, ast.Name):
        return node.id, None, {}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        try:
            args = tuple(ast.literal_eval(arg) for arg in node.args)
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
        except ValueError as error:
            raise AppLoadError(f"the arguments of {expression!r} must be literals") from error
        return node.func.id, args, kwargs
    raise AppLoadError(f"{expression!r} is not a name or a call like create_app()")


def load_app(app_module: str) -> Any:
    """Import the app object named by `module:name` (or `module:factory()`).

    ImportError and errors raised by the user's module propagate unchanged: they are bugs in the app,
    and their traceback is what the user needs.
    """
    module_name, expression = split_app_module(app_module)
    name, args, kwargs = parse_object_expression(expression)
    module = importlib.import_module(module_name)
    try:
        app = getattr(module, name)
    except AttributeError:
        raise AppLoadError(f"module {module_name} has no attribute {name!r}") from None
    if args is not None:
        app = app(*args, **kwargs)
    if app is None or not callable(app):
        raise AppLoadError(f"{app_module} is {type(app).__name__}, not a WSGI or ASGI application")
    return app


def is_asgi_app(app: Any) -> bool:
    """ASGI apps are `async def app(scope, receive, send)` or objects with such an `async __call__`.

    Frameworks wrap their app in classes whose __call__ is a coroutine function (Starlette, FastAPI,
    Django's ASGIHandler); a WSGI app's __call__ is a plain function (environ, start_response). An
    ASGI 2 "double callable" (a class taking scope) is recognised by its single parameter.
    """
    import inspect  # here: only telling WSGI from ASGI needs it, and few starts do
    if inspect.iscoroutinefunction(app):
        return True
    call = getattr(app, "__call__", None)  # noqa: B004  (not "is it callable": is its __call__ async)
    if call is not None and inspect.iscoroutinefunction(call):
        return True
    if inspect.isclass(app):
        try:
            parameters = list(inspect.signature(app).parameters)
        except (TypeError, ValueError):
            return False
        return parameters == ["scope"]
    try:
        parameters = list(inspect.signature(app).parameters)
    except (TypeError, ValueError):
        return False
    # e.g. a functools.partial or a decorator hiding an async function: judge by the ASGI parameter names;
    # a function of `scope` alone is an ASGI 2 app
    return parameters[:3] == ["scope", "receive", "send"] or parameters == ["scope"]


def is_asgi2_app(app: Any) -> bool:
    """Whether an ASGI app is ASGI 2, a "double callable" (`app(scope)` returns `instance(receive, send)`), told
    the way Uvicorn tells it: a class without `__await__`, or a callable whose call is not a coroutine function.
    A callable taking (scope, receive, send) is ASGI 3 even when a wrapper hides its coroutine."""
    import inspect  # here: only telling WSGI from ASGI needs it, and few starts do
    if inspect.isclass(app):
        return not hasattr(app, "__await__")
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else getattr(app, "__call__", None)  # noqa: B004
    if call is None or inspect.iscoroutinefunction(call):
        return False
    try:
        return len(inspect.signature(call).parameters) == 1
    except (TypeError, ValueError):
        return False


class ASGI2App:
    """An ASGI 2 app served as ASGI 3 (for Gunicorn's asgi worker, which speaks only ASGI 3; Uvicorn adapts
    ASGI 2 itself)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        instance = self.app(scope)
        await instance(receive, send)


def probe(app_module: str, source: str) -> int:
    """Load the app and return PROBE_ASGI or PROBE_WSGI; PROBE_UNUSABLE (with one line) if it is no app.

    `source` names the variable(s) the app module came from, for the message.
    """
    try:
        app = load_app(app_module)
    except AppLoadError as error:
        print(
            f'Error: app "{app_module}" (from {source}) is not usable: {error}; allowed: a WSGI or ASGI app object',
            file=sys.stderr,
            flush=True,
        )
        return PROBE_UNUSABLE
    return PROBE_ASGI if is_asgi_app(app) else PROBE_WSGI


if __name__ == "__main__":
    sys.exit(probe(sys.argv[1], sys.argv[2]))
