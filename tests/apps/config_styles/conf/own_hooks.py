# Extends the image's config by its old name, and brings hooks of its own (which must run, and ours too).
import startup.gunicorn_config as image
from startup.gunicorn_config import *  # noqa: F403


def on_starting(server):
    image.on_starting(server)  # what configs written for the old README do: a no-op now
    print("user hook: on_starting", flush=True)


def post_fork(server, worker):
    print(f"user hook: post_fork {worker.pid}", flush=True)


def child_exit(server, worker):
    print(f"user hook: child_exit {worker.pid}", flush=True)
