"""Gunicorn configuration files (a leaf: imports nothing of ours).

Discovery (tiangolo's order): /app/gunicorn_conf.py, then /app/app/gunicorn_conf.py, then the image's
/gunicorn_conf.py. GUNICORN_CONF names a file explicitly.

The start script must not override a `worker_class` the user set, and Gunicorn lets `-k` on the command
line beat the config file. So the script only passes `-k` when the file does not set `worker_class`,
which `assigns_worker_class` decides by reading the file's syntax tree, without running it.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

APP_DIR = Path("/app")
IMAGE_CONFIG = Path("/gunicorn_conf.py")


def config_candidates(app_dir: Path = APP_DIR, image_config: Path = IMAGE_CONFIG) -> list[Path]:
    return [app_dir / "gunicorn_conf.py", app_dir / "app" / "gunicorn_conf.py", image_config]


def discover_config(app_dir: Path = APP_DIR, image_config: Path = IMAGE_CONFIG) -> Path:
    """The first existing candidate; the image's own file when none exists."""
    for candidate in config_candidates(app_dir, image_config):
        if candidate.is_file():
            return candidate
    return image_config


def assigns_worker_class(source: str) -> bool:
    """Whether the config file sets `worker_class` at module level.

    Counted: `worker_class = ...`, `worker_class: str = ...`, `worker_class += ...`, inside `if`/`try`/
    `with`/`for` blocks too, and `from x import worker_class`. Not counted: assignments inside
    functions or classes (they do not make a module variable), and `from x import *` (that is how a
    file extends ours, and ours picks the class the same way the start script does).
    A file that cannot be parsed counts as not setting it; Gunicorn will report the syntax error.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return _block_assigns(tree.body)


def file_assigns_worker_class(path: Path) -> bool:
    try:
        return assigns_worker_class(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return False


def _block_assigns(statements: list[ast.stmt]) -> bool:
    for statement in statements:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(statement, ast.Assign) and any(_names_target(t) for t in statement.targets):
            return True
        if (
            isinstance(statement, (ast.AnnAssign, ast.AugAssign))
            and statement.value is not None
            and _names_target(statement.target)
        ):
            return True
        if isinstance(statement, ast.ImportFrom) and any(
            (alias.asname or alias.name) == "worker_class" for alias in statement.names
        ):
            return True
        # Nested blocks: if/else, try/except/finally, with, for/while (and their else).
        for field in ("body", "orelse", "finalbody"):
            block = getattr(statement, field, None)
            if isinstance(block, list) and _block_assigns(block):
                return True
        for handler in getattr(statement, "handlers", []) or []:
            if _block_assigns(handler.body):
                return True
        if isinstance(statement, ast.Match) and any(_block_assigns(case.body) for case in statement.cases):
            return True
    return False


def _names_target(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return target.id == "worker_class"
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_names_target(element) for element in target.elts)
    if isinstance(target, ast.Starred):
        return _names_target(target.value)
    return False


def cmd_args_set_worker_class(gunicorn_cmd_args: str) -> bool:
    """Whether GUNICORN_CMD_ARGS already chooses the worker class (`-k X`, `-kX`, `--worker-class[=]X`)."""
    try:
        words = shlex.split(gunicorn_cmd_args)
    except ValueError:
        words = gunicorn_cmd_args.split()
    for word in words:
        if word == "-k" or word.startswith("--worker-class") or (word.startswith("-k") and len(word) > 2):
            return True
    return False
