"""Log levels and formats shared by Gunicorn, Uvicorn and the app (a leaf: imports nothing of ours).

- LOG_LEVEL names (case-insensitive) and their `logging` numbers.
- `JsonFormatter`: one JSON object per line for error/app logs (`LOG_FORMAT=json`).
- `JsonAccessFormatter`: one JSON object per access-log line, with the request's fields taken from
  Gunicorn's access atoms, Uvicorn's access-log arguments, or Meinheld's finished line.
- `uvicorn_log_config`: the `logging.config.dictConfig` dict for `uvicorn --reload`, which runs without
  Gunicorn's logger.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

LOG_LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
LOG_FORMATS = ("text", "json")

# Gunicorn's own text format, used for the app's root logger in text mode so all lines look alike.
TEXT_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"
TEXT_DATE_FORMAT = "[%Y-%m-%d %H:%M:%S %z]"

# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON object.
_STANDARD_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "color_message", "taskName"}
)


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


def _record_header(record: logging.LogRecord) -> dict[str, Any]:
    """The fields every JSON line starts with."""
    return {"time": _timestamp(record), "level": record.levelname, "logger": record.name, "pid": record.process}


class JsonFormatter(logging.Formatter):
    """`{"time": ..., "level": "INFO", "logger": "gunicorn.error", "pid": 7, "message": "..."}` per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _record_header(record)
        entry["message"] = record.getMessage()
        for key, value in vars(record).items():
            if key not in _STANDARD_RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class JsonAccessFormatter(logging.Formatter):
    """One JSON object per request, from Gunicorn's or Uvicorn's access-log record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _record_header(record)
        entry.update(access_fields(record))
        entry["message"] = record.getMessage()
        return json.dumps(entry, default=str, ensure_ascii=False)


def access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The request's fields from an access record; {} if the record is of neither known shape."""
    args = record.args
    if isinstance(args, Mapping):  # Gunicorn: access_log.info(access_log_format, atoms)
        return _gunicorn_access_fields(args)
    if not args:  # Meinheld hands over the finished line, in Gunicorn's default access-log format
        return _common_log_fields(record.getMessage())
    if isinstance(args, tuple) and len(args) == 5:  # Uvicorn: '%s - "%s %s HTTP/%s" %d'
        client, method, full_path, http_version, status = args
        path, _, query = str(full_path).partition("?")
        return {
            "remote_addr": client,
            "method": method,
            "path": path,
            "query": query,
            "protocol": f"HTTP/{http_version}",
            "status": status,
        }
    return {}


# Gunicorn's default access_log_format: %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"
_COMMON_LOG_LINE = re.compile(
    r'^(?P<h>\S+) \S+ \S+ \[[^\]]*\] "(?P<r>(?:[^"\\]|\\.)*)" (?P<s>\d{3}|-) (?P<b>\S+)'
    r' "(?P<f>(?:[^"\\]|\\.)*)" "(?P<a>(?:[^"\\]|\\.)*)"$'
)


def _common_log_fields(line: str) -> dict[str, Any]:
    match = _COMMON_LOG_LINE.match(line)
    if match is None:
        return {}
    method, _, rest = match["r"].partition(" ")
    target, _, protocol = rest.rpartition(" ") if " " in rest else (rest, "", "")
    path, _, query = target.partition("?")
    return {
        "remote_addr": match["h"],
        "method": method,
        "path": path,
        "query": query,
        "protocol": protocol,
        "status": int(match["s"]) if match["s"].isdigit() else None,
        "bytes": int(match["b"]) if match["b"].isdigit() else None,
        "referer": match["f"].replace('\\"', '"'),
        "user_agent": match["a"].replace('\\"', '"'),
    }


def _gunicorn_access_fields(atoms: Mapping[str, Any]) -> dict[str, Any]:
    def atom(key: str) -> Any:
        value = dict.get(atoms, key) if isinstance(atoms, dict) else atoms.get(key)
        # Gunicorn escapes double quotes for its quoted text format; JSON quotes by itself.
        return value.replace('\\"', '"') if isinstance(value, str) else value

    status = atom("s")
    try:
        status = int(status)
    except (TypeError, ValueError):
        pass
    duration_us = atom("D")
    return {
        "remote_addr": atom("h"),
        "method": atom("m"),
        "path": atom("U"),
        "query": atom("q"),
        "protocol": atom("H"),
        "status": status,
        "bytes": atom("B"),
        "duration_ms": round(duration_us / 1000, 3) if isinstance(duration_us, (int, float)) else None,
        "referer": atom("f"),
        "user_agent": atom("a"),
    }


def text_formatter() -> logging.Formatter:
    return logging.Formatter(TEXT_FORMAT, TEXT_DATE_FORMAT)


def _handler(destination: str | None, stream: str) -> dict[str, Any]:
    """A dictConfig handler for "-" (the stream), a file path, or None (discard)."""
    if destination is None:
        return {"class": "logging.NullHandler"}
    if destination == "-":
        return {"class": "logging.StreamHandler", "stream": stream}
    return {"class": "logging.FileHandler", "filename": destination}


def uvicorn_log_config(
    level: str, log_format: str, access_log: str | None = "-", error_log: str | None = "-"
) -> dict[str, Any]:
    """dictConfig for a plain uvicorn process: its loggers and the root logger at one level and format.

    In text mode Uvicorn's own formatters are kept (what tiangolo's reload script prints); in JSON mode
    every line is a JSON object.
    """
    level_name = level.upper()
    if log_format == "json":
        formatters: dict[str, Any] = {
            "default": {"()": f"{__name__}.JsonFormatter"},
            "access": {"()": f"{__name__}.JsonAccessFormatter"},
        }
    else:
        formatters = {
            "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"},
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        }
    default_handler = _handler(error_log, "ext://sys.stderr")
    access_handler = _handler(access_log, "ext://sys.stdout")
    if default_handler["class"] != "logging.NullHandler":
        default_handler["formatter"] = "default"
    if access_handler["class"] != "logging.NullHandler":
        access_handler["formatter"] = "access"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": {"default": default_handler, "access": access_handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level_name, "propagate": False},
            "uvicorn.error": {"level": level_name},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": level_name},
    }
