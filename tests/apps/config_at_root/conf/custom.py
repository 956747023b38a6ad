"""Named with GUNICORN_CONF: extends the default and changes one thing."""

from startup.gunicorn_config import *  # noqa: F401,F403

timeout = 33
