"""The image's default Gunicorn configuration: every value comes from environment variables.

This file is a thin wrapper over `startup.gunicorn_config`. A config of your own (/app/gunicorn_conf.py)
can extend the defaults instead of copying them:

    from startup.gunicorn_config import *  # noqa: F401,F403

    workers = 4

`python /gunicorn_conf.py` prints the effective settings as one JSON object.
"""

from startup.gunicorn_config import *

if __name__ == "__main__":
    from startup.gunicorn_config import print_log_data

    print_log_data()
