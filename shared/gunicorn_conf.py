"""The image's default Gunicorn configuration: every value comes from environment variables.

This file is a thin wrapper over `gunicorn_image.gunicorn_config`. A config of your own (/app/gunicorn_conf.py)
can extend the defaults instead of copying them:

    from gunicorn_image.gunicorn_config import *  # noqa: F401,F403

    workers = 4

`python /gunicorn_conf.py` prints the effective settings as one JSON object.
"""

from gunicorn_image.gunicorn_config import *

if __name__ == "__main__":
    from gunicorn_image.gunicorn_config import print_log_data

    print_log_data()
