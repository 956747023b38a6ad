"""One LOG_LEVEL and LOG_FORMAT for Gunicorn, Uvicorn's worker loggers and the app's root logger."""

from __future__ import annotations

import io
import json
import logging

import pytest
from unit_support import needs_gunicorn

pytestmark = needs_gunicorn

LOGGER_NAMES = ("", "gunicorn.error", "gunicorn.access", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture(autouse=True)
def restore_logging():
    saved = {
        name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
        for name in LOGGER_NAMES
    }
    yield
    for name, (level, handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def make_logger(json_lines: bool = False, **settings):
    from gunicorn.config import Config
    from gunicorn_image.gunicorn_logging import JsonLogger, Logger

    root = logging.getLogger()  # pytest's capture handlers would count as "configured by someone else"
    root.handlers[:] = [h for h in root.handlers if not type(h).__module__.startswith("_pytest")]
    cfg = Config()
    for name, value in {"accesslog": "-", "errorlog": "-", "loglevel": "info", **settings}.items():
        cfg.set(name, value)
    return (JsonLogger if json_lines else Logger)(cfg)


def attach_like_uvicorn_worker(log) -> None:
    """What uvicorn_worker.UvicornWorker.__init__ does with Gunicorn's logger."""
    for name, source in (("uvicorn.error", log.error_log), ("uvicorn.access", log.access_log)):
        target = logging.getLogger(name)
        target.handlers = source.handlers
        target.setLevel(source.level)
        target.propagate = False


def capture(log_name: str) -> io.StringIO:
    """Point the logger's handlers at a buffer (they were made with the real stdout/stderr)."""
    buffer = io.StringIO()
    for handler in logging.getLogger(log_name).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(buffer)
    return buffer


@pytest.mark.parametrize("level", ["DEBUG", "warning", "Error"])
def test_one_log_level_reaches_gunicorn_uvicorn_and_the_root_logger(level: str) -> None:
    log = make_logger(loglevel=level)
    expected = getattr(logging, level.upper())
    assert log.error_log.level == expected
    assert logging.getLogger().level == expected
    assert logging.getLogger("uvicorn.error").level == expected


def test_app_logs_go_to_the_error_log_destination_in_the_same_format() -> None:
    make_logger()
    buffer = capture("")
    logging.getLogger("myapp").info("hello")
    assert buffer.getvalue().rstrip().endswith("[INFO] myapp: hello")


def test_json_format_for_error_access_and_app_logs() -> None:
    log = make_logger(json_lines=True)
    attach_like_uvicorn_worker(log)
    error_buffer, access_buffer, root_buffer = capture("gunicorn.error"), capture("gunicorn.access"), capture("")
    log.info("Booting worker with pid: %s", 7)
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", "/", "1.1", 200)
    logging.getLogger("myapp").warning("careful")
    assert json.loads(error_buffer.getvalue())["message"] == "Booting worker with pid: 7"
    assert json.loads(access_buffer.getvalue())["status"] == 200
    assert json.loads(root_buffer.getvalue())["logger"] == "myapp"


def test_uvicorn_access_lines_appear_when_access_log_is_on() -> None:
    log = make_logger(accesslog="-")
    attach_like_uvicorn_worker(log)
    buffer = capture("gunicorn.access")
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", "/", "1.1", 200)
    assert '"GET / HTTP/1.1" 200' in buffer.getvalue()


def test_uvicorn_access_lines_disappear_when_access_log_is_empty(capsys) -> None:
    log = make_logger(accesslog=None)
    attach_like_uvicorn_worker(log)
    access = logging.getLogger("uvicorn.access")
    access.info('%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", "/", "1.1", 200)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    # Uvicorn's protocols log only when `uvicorn.access` has handlers: with none, no record is built.
    assert not access.hasHandlers()
    assert not log.access_log_enabled  # Gunicorn's own workers skip access logging too


def test_empty_error_log_silences_gunicorn_and_the_root_handler(capsys) -> None:
    log = make_logger(errorlog=None)
    log.warning("should not appear")
    assert capsys.readouterr().err == ""
    assert not any(getattr(h, "_startup_handler", False) for h in logging.getLogger().handlers)


def test_setup_again_on_reload_does_not_stack_handlers() -> None:
    log = make_logger()
    before = (len(log.error_log.handlers), len(logging.getLogger().handlers))
    log.setup(log.cfg)
    assert (len(log.error_log.handlers), len(logging.getLogger().handlers)) == before


def test_root_logger_configured_by_someone_else_is_left_alone() -> None:
    root = logging.getLogger()
    theirs = logging.NullHandler()
    root.handlers[:] = [theirs]
    make_logger()
    assert root.handlers == [theirs]
