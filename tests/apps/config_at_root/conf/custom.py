"""Named with GUNICORN_CONF: extends the default and changes one thing."""

from gunicorn_image.gunicorn_config import *  # noqa: F401,F403

timeout = 33
