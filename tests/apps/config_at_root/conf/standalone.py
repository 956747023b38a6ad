"""A stand-alone Gunicorn config, written from scratch the way tiangolo's README shows."""

bind = "0.0.0.0:80"
workers = 1
timeout = 34
