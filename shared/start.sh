#!/bin/sh
# Production entry point (the images' default command).
# Everything is decided in Python (gunicorn_image/start.py): the prestart script, validation of every
# setting, then Gunicorn's master in the same process, which keeps this PID (1) for clean signals.
#
# The config file is guessed here the way gunicorn_image.settings finds it (README "GUNICORN_CONF"), only so
# that the master's command line shows `-c <config>` without a second Python start: the start layer
# checks the guess after the prestart and, if it was wrong, execs a new Python with the right one.
set -eu
conf=${GUNICORN_CONF:-}
case "$conf" in
    "")
        for conf in /app/gunicorn_conf.py /app/app/gunicorn_conf.py /gunicorn_conf.py; do
            if [ -f "$conf" ]; then break; fi
        done ;;
    /*) ;;
    *) conf=/app/$conf ;;
esac
exec python -m gunicorn_image.start -c "$conf"
