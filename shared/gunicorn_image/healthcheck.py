"""The images' HEALTHCHECK: one HTTP request to the server inside the container, no curl needed.

    python -m gunicorn_image.healthcheck

Healthy (exit 0) when the server answers `HEALTHCHECK_PATH` (default `/`) with any status below 500; with
HEALTH_BIND set, when the master's `/readyz` there answers 200. The address comes from HEALTH_BIND, else BIND
(its first TCP address), else HOST/PORT, as the server's own settings do; a wildcard host is asked on loopback.
"""

from __future__ import annotations

import http.client
import os
import sys

TIMEOUT_SECONDS = 4.0


def target(environ: os._Environ[str] | dict[str, str]) -> tuple[str, int]:
    bind = (environ.get("HEALTH_BIND") or environ.get("BIND") or "").split(",")[0].strip()
    if bind and not bind.startswith(("unix:", "fd://")):
        host, _, port = bind.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
    else:
        host, port = environ.get("HOST") or "0.0.0.0", environ.get("PORT") or "80"
    if host in ("0.0.0.0", "::", "*"):
        host = "127.0.0.1"
    return host, int(port)


def check(environ: os._Environ[str] | dict[str, str]) -> str | None:
    """None when healthy, else what is wrong."""
    host, port = target(environ)
    # With HEALTH_BIND the master answers /readyz itself, so a busy app does not look unhealthy.
    path = "/readyz" if environ.get("HEALTH_BIND") else environ.get("HEALTHCHECK_PATH") or "/"
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", path, headers={"User-Agent": "healthcheck"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return f"GET http://{host}:{port}{path} failed: {error}"
    finally:
        connection.close()
    return None if status < 500 else f"GET http://{host}:{port}{path} answered {status}"


if __name__ == "__main__":
    problem = check(os.environ)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
    sys.exit(1 if problem else 0)
