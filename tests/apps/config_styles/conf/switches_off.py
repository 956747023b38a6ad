# Turns three of the image's guarantees off explicitly: theirs wins, and the start says so.
from gunicorn_image.gunicorn_config import *  # noqa: F403

user = 0
group = 0
limit_request_field_size = 0
