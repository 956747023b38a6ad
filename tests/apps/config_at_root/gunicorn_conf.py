"""A user's config that extends the image's default one and changes one thing."""

from gunicorn_image.gunicorn_config import *  # noqa: F401,F403

timeout = 31
