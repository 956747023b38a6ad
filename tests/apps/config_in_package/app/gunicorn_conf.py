"""A user's config next to the app package; extends the image's default one."""

from gunicorn_image.gunicorn_config import *  # noqa: F401,F403

timeout = 32
