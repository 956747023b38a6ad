# Extends the image's defaults and changes one value.
from gunicorn_image.gunicorn_config import *  # noqa: F403

workers = 2
