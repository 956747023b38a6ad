"""The runtime layer every image carries (/opt/startup/startup, importable as `startup`).

Three floors; nothing on a lower floor imports a higher one.

- Entry points: `start` (what /start.sh runs), `reload` (/start-reload.sh), `gunicorn_config`
  (/gunicorn_conf.py is a thin file over it).
- Middle: `settings` (environment -> validated settings), `launch` (steps both start scripts share),
  `gunicorn_logging` (Gunicorn's logger class with our levels and formats).
- Leaves, importing nothing of ours: `apps` (finding and inspecting the app), `config_files`
  (finding the Gunicorn config, does it set worker_class), `cpu` (the container's CPU budget),
  `workers` (worker-class names), `log_formats`, `prestart`, `server_identity`, `uvicorn_limits`
  (request-head limits for Uvicorn workers, applied from the config's post_fork hook), `gthread_heads`
  (gthread workers read request heads on their main loop, also from post_fork), `gunicorn_fixes`
  (Gunicorn bugs that reach clients), and
  `healthcheck` (the images' HEALTHCHECK, `python -m gunicorn_image.healthcheck`).

For apps: `gunicorn_image.server_info()` names the server answering, e.g. "gunicorn/27.0.1 uvicorn_worker.UvicornWorker".
"""

__all__ = ["server_info"]


def server_info() -> str:
    """The server answering this request's process, e.g. "gunicorn/27.0.1 meinheld.gmeinheld.MeinheldWorker"."""
    from gunicorn_image import server_identity  # on call: every start imports this package, few apps ask

    return server_identity.server_info()
