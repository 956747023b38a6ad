"""A user's config that extends the default one and picks its own worker class."""

from gunicorn_image.gunicorn_config import *  # noqa: F401,F403

worker_class = "uvicorn_worker.UvicornH11Worker"
