"""A second app in a custom module, for MODULE_NAME=custom.web VARIABLE_NAME=api."""

from main import make_app

api = make_app("custom/web.py:api")
