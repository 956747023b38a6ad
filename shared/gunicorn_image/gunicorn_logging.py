"""Gunicorn's logger class, extended so one LOG_LEVEL and one LOG_FORMAT reach every logger.

Gunicorn calls `setup(cfg)` in the master at start and on every reload (SIGHUP); workers inherit the
result when they fork. On top of Gunicorn's own setup this:

- in JSON mode, gives Gunicorn's error and access handlers JSON formatters;
- makes an empty ACCESS_LOG / ERROR_LOG really silent: Uvicorn's worker copies Gunicorn's handlers
  into `uvicorn.access` / `uvicorn.error` when it starts; the access logger keeps no handler, so Uvicorn
  skips access logging altogether, and the error logger gets a NullHandler, so Python's last-resort
  handler does not print its warnings;
- gives the app's root logger LOG_LEVEL and a handler writing where the error log goes, in the same
  format (so `logging.getLogger(__name__).info(...)` in the app shows up), unless the error log is off;
- sets Uvicorn's loggers to LOG_LEVEL (for workers that do not copy Gunicorn's settings).

The config selects `Logger` (LOG_FORMAT=text) or `JsonLogger` (LOG_FORMAT=json) as `logger_class`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from gunicorn import glogging

from gunicorn_image.log_formats import JsonAccessFormatter, JsonFormatter, text_formatter

_OURS = "_startup_handler"  # marks the root handler we add, so a reload replaces it


class Logger(glogging.Logger):
    json_lines = False

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if self.json_lines:
            for handler in self._gunicorn_handlers(self.error_log):
                handler.setFormatter(JsonFormatter())
            for handler in self._gunicorn_handlers(self.access_log):
                handler.setFormatter(JsonAccessFormatter())
        uses_log_config = bool(cfg.logconfig or cfg.logconfig_dict or cfg.logconfig_json)
        if not uses_log_config:
            # An empty ACCESS_LOG leaves the access logger with no handler at all: Uvicorn's worker copies
            # the handlers and then logs only when there are some, so no record is even built. (Access
            # records are INFO; Python's last-resort handler prints WARNING and above only.)
            if cfg.errorlog is None and not cfg.syslog:
                self._silence(self.error_log)
        self._setup_root_logger(cfg)
        for name in ("uvicorn", "uvicorn.error"):
            logging.getLogger(name).setLevel(self.loglevel)

    @staticmethod
    def _gunicorn_handlers(log: logging.Logger) -> list[logging.Handler]:
        return [handler for handler in log.handlers if getattr(handler, "_gunicorn", False)]

    @staticmethod
    def _silence(log: logging.Logger) -> None:
        handler = logging.NullHandler()
        handler._gunicorn = True  # type: ignore[attr-defined]  # Gunicorn drops it on its next setup
        log.addHandler(handler)

    def _setup_root_logger(self, cfg: Any) -> None:
        root = logging.getLogger()
        root.setLevel(self.loglevel)
        for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
            root.removeHandler(handler)
            handler.close()
        if cfg.errorlog is None or any(not getattr(h, _OURS, False) for h in root.handlers):
            return  # the error log is off, or something (a logconfig) already configured the root logger
        app_handler: logging.Handler
        if cfg.errorlog == "-":
            app_handler = logging.StreamHandler(sys.stderr)
        else:
            app_handler = logging.FileHandler(cfg.errorlog)
        app_handler.setFormatter(JsonFormatter() if self.json_lines else text_formatter())
        setattr(app_handler, _OURS, True)
        root.addHandler(app_handler)


class JsonLogger(Logger):
    json_lines = True
