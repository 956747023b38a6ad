#!/bin/sh
# Development entry point: one server process that reloads when code under /app (or RELOAD_DIRS) changes.
# Everything is decided in Python (gunicorn_image/reload.py): the prestart script, validation, then
# `uvicorn --reload` for ASGI apps (when Uvicorn is installed) or `gunicorn --reload --workers 1`.
set -eu
exec python -m gunicorn_image.reload
