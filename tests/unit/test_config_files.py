"""Finding the Gunicorn config, and telling whether it sets worker_class (so `-k` must not be passed)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from gunicorn_image import config_files


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "image"),
        (["gunicorn_conf.py"], "gunicorn_conf.py"),
        (["app/gunicorn_conf.py"], "app/gunicorn_conf.py"),
        (["gunicorn_conf.py", "app/gunicorn_conf.py"], "gunicorn_conf.py"),  # /app wins over /app/app
    ],
)
def test_config_discovery_order(tmp_path: Path, existing: list[str], expected: str) -> None:
    app_dir = tmp_path / "app"
    image_config = tmp_path / "gunicorn_conf.py"
    image_config.write_text("")
    for relative in existing:
        (app_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (app_dir / relative).write_text("")
    want = image_config if expected == "image" else app_dir / expected
    assert config_files.discover_config(app_dir, image_config) == want


def test_a_directory_named_like_the_config_is_not_a_config(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    (app_dir / "gunicorn_conf.py").mkdir(parents=True)
    assert config_files.discover_config(app_dir, tmp_path / "image.py") == tmp_path / "image.py"


@pytest.mark.parametrize(
    ("source", "sets"),
    [
        ("worker_class = 'sync'", True),
        ("worker_class: str = 'sync'", True),
        ("worker_class += ''", True),
        ("a = worker_class = 'sync'", True),
        ("worker_class, threads = 'gthread', 4", True),
        ("import os\nif os.environ.get('X'):\n    worker_class = 'sync'", True),
        ("try:\n    import gevent\nexcept ImportError:\n    pass\nelse:\n    worker_class = 'gevent'", True),
        ("try:\n    pass\nexcept ImportError:\n    worker_class = 'sync'", True),
        ("with open('x') as f:\n    worker_class = f.read()", True),
        ("from mysettings import worker_class", True),
        ("from mysettings import wc as worker_class", True),
        ("from gunicorn_image.gunicorn_config import *\nworkers = 4", False),  # extends ours: ours picks the class
        ("workers = 4\nbind = '0.0.0.0:80'", False),
        ("def configure():\n    worker_class = 'sync'", False),  # a function's local variable
        ("class X:\n    worker_class = 'sync'", False),
        ("# worker_class = 'sync'", False),
        ("x = 'worker_class = 1'", False),
        ("worker_class_name = 'sync'", False),
        ("this is not python", False),  # Gunicorn will report the syntax error itself
        ("", False),
    ],
)
def test_assigns_worker_class_reads_the_syntax_tree(source: str, sets: bool) -> None:
    assert config_files.assigns_worker_class(dedent(source)) is sets, source


def test_unreadable_config_file_counts_as_not_setting_it(tmp_path: Path) -> None:
    assert config_files.file_assigns_worker_class(tmp_path / "missing.py") is False
    path = tmp_path / "conf.py"
    path.write_text("worker_class = 'sync'\n")
    assert config_files.file_assigns_worker_class(path) is True


@pytest.mark.parametrize(
    ("args", "sets"),
    [
        ("-k sync", True),
        ("-ksync", True),
        ("--worker-class sync", True),
        ("--worker-class=gthread --threads 4", True),
        ("--log-level debug -w 3", False),
        ("--keep-alive 5", False),
        ("", False),
        ("--name 'unbalanced", False),
    ],
)
def test_gunicorn_cmd_args_choosing_the_worker_class_is_detected(args: str, sets: bool) -> None:
    assert config_files.cmd_args_set_worker_class(args) is sets
