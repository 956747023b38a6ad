"""JSON log lines for error, app and access logs; the uvicorn --reload logging config."""

from __future__ import annotations

import json
import logging
import logging.config
import sys

import pytest
from gunicorn_image.log_formats import JsonAccessFormatter, JsonFormatter, access_fields, uvicorn_log_config


def record(name: str, message: str, args=None, level: int = logging.INFO, **extra) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_json_formatter_writes_one_object_per_line() -> None:
    line = JsonFormatter().format(record("myapp", "hello %s", ("world",), user_id=7))
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["message"] == "hello world" and entry["level"] == "INFO" and entry["logger"] == "myapp"
    assert entry["user_id"] == 7  # fields passed with extra=
    assert entry["time"].endswith("+00:00") and isinstance(entry["pid"], int)


def test_json_formatter_keeps_tracebacks_inside_the_object() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        made = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = JsonFormatter().format(made)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_gunicorn_access_atoms_become_fields() -> None:
    atoms = {
        "h": "10.0.0.1",
        "m": "GET",
        "U": "/items",
        "q": "a=1",
        "H": "HTTP/1.1",
        "s": "200",
        "B": 12,
        "D": 1500,
        "f": "-",
        "a": 'curl \\"quoted\\"',
        "r": "GET /items?a=1 HTTP/1.1",
    }
    made = record("gunicorn.access", '%(h)s "%(r)s" %(s)s', atoms)
    entry = json.loads(JsonAccessFormatter().format(made))
    assert entry["remote_addr"] == "10.0.0.1" and entry["method"] == "GET" and entry["path"] == "/items"
    assert entry["query"] == "a=1" and entry["status"] == 200 and entry["bytes"] == 12
    assert entry["duration_ms"] == 1.5
    assert entry["user_agent"] == 'curl "quoted"'  # Gunicorn's quote escaping undone
    assert entry["message"] == '10.0.0.1 "GET /items?a=1 HTTP/1.1" 200'


def test_uvicorn_access_arguments_become_fields() -> None:
    made = record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', ("10.0.0.1:5555", "POST", "/x?y=1", "1.1", 201))
    entry = json.loads(JsonAccessFormatter().format(made))
    assert (entry["method"], entry["path"], entry["query"], entry["status"]) == ("POST", "/x", "y=1", 201)
    assert entry["protocol"] == "HTTP/1.1" and entry["remote_addr"] == "10.0.0.1:5555"


def test_meinheld_access_line_is_parsed_into_fields() -> None:
    line = '10.0.0.1 - - [21/Nov/2026:13:24:14 +0000] "GET /a?b=1 HTTP/1.1" 200 69 "-" "curl \\"x\\""'
    entry = json.loads(JsonAccessFormatter().format(record("gunicorn.access", line)))
    assert (entry["remote_addr"], entry["method"], entry["path"], entry["query"]) == ("10.0.0.1", "GET", "/a", "b=1")
    assert (entry["protocol"], entry["status"], entry["bytes"]) == ("HTTP/1.1", 200, 69)
    assert entry["user_agent"] == 'curl "x"' and entry["message"] == line


def test_unknown_access_record_still_gives_json() -> None:
    entry = json.loads(JsonAccessFormatter().format(record("meinheld.access", "preformatted line")))
    assert entry["message"] == "preformatted line"
    assert access_fields(record("x", "plain")) == {}


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_uvicorn_log_config_is_accepted_by_dictconfig(log_format: str) -> None:
    if log_format == "text":
        pytest.importorskip("uvicorn", reason="text mode uses Uvicorn's own formatters")
    config = uvicorn_log_config("debug", log_format)
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        logging.config.dictConfig(config)
        assert logging.getLogger("uvicorn.error").getEffectiveLevel() == logging.DEBUG
        assert root.level == logging.DEBUG
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


@pytest.mark.parametrize(
    ("access", "error", "access_class", "error_class"),
    [
        ("-", "-", "logging.StreamHandler", "logging.StreamHandler"),
        (None, "-", "logging.NullHandler", "logging.StreamHandler"),
        ("/tmp/a.log", None, "logging.FileHandler", "logging.NullHandler"),
    ],
)
def test_uvicorn_log_config_destinations(access, error, access_class, error_class) -> None:
    handlers = uvicorn_log_config("info", "json", access, error)["handlers"]
    assert handlers["access"]["class"] == access_class and handlers["default"]["class"] == error_class
