#!/bin/sh
# Production entry point (the images' default command).
# Everything is decided in Python (gunicorn_image/start.py): the prestart script, validation of every
# setting, then `exec gunicorn -c <config> <app>`, which keeps this PID (1) for clean signals.
set -eu
exec python -m gunicorn_image.start
