"""Old name of `gunicorn_image.gunicorn_config`: `from startup.gunicorn_config import *` gets the image's defaults.

The image now adds its hooks to every config itself (`gunicorn_image.contract`). A config that still calls
`startup.gunicorn_config.on_starting(server)` and the like from its own hooks calls the no-ops below, so the
image's hooks do not run twice.
"""

from typing import Any

from gunicorn_image.gunicorn_config import *  # noqa: F403
from gunicorn_image.gunicorn_config import __all__, print_log_data  # noqa: F401


def on_starting(server: Any) -> None:
    """No-op: the image runs its own on_starting."""


def when_ready(server: Any) -> None:
    """No-op: the image runs its own when_ready."""


def post_fork(server: Any, worker: Any) -> None:
    """No-op: the image runs its own post_fork."""


def post_worker_init(worker: Any) -> None:
    """No-op: the image runs its own post_worker_init."""


def child_exit(server: Any, worker: Any) -> None:
    """No-op: the image runs its own child_exit."""
