"""The image layer's old name, kept so configs written as `from startup.gunicorn_config import *` still work.

The layer is `gunicorn_image` now: an app with a `startup` module or package of its own shadows this alias
(/app comes first on sys.path), and the image never imports it, so such an app starts and serves.
"""

from gunicorn_image import server_info

__all__ = ["server_info"]
