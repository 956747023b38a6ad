"""The environment -> validated settings (the middle floor: uses the leaves, used by the entry points).

Every environment variable the images read is parsed here, in one place, with its default and its
rule. A bad value raises `SettingsError`, whose message is the one line the user sees: the variable,
the value, and what is allowed. Nothing here starts a process or prints.
"""

from __future__ import annotations

import importlib
import json
import os
import pwd
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from gunicorn_image import apps, config_files, cpu, memory, workers
from gunicorn_image.patches import DEFAULT_HEADER_TIMEOUT
from gunicorn_image.log_formats import LOG_FORMATS, LOG_LEVELS

APP_DIR = Path("/app")
IMAGE_CONFIG = Path("/gunicorn_conf.py")

# Per worker, when neither WORKER_MEMORY nor the image's DEFAULT_WORKER_MEMORY says (each image sets its own).
DEFAULT_WORKER_MEMORY = 128 << 20

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})

# The keys of tiangolo's `log_data`, in its order; the startup JSON line has at least these.
SUMMARY_KEYS = (
    "loglevel",
    "workers",
    "bind",
    "graceful_timeout",
    "timeout",
    "keepalive",
    "errorlog",
    "accesslog",
    "workers_per_core",
    "use_max_workers",
    "host",
    "port",
)


class SettingsError(Exception):
    """A configuration mistake; str(error) is the one line to print before exiting non-zero."""


def invalid(variable: str, value: str, allowed: str, problem: str = "") -> SettingsError:
    """`NAME="value" is not valid[: problem]; allowed: ...` - the one line users see."""
    detail = f": {problem}" if problem else ""
    return SettingsError(f"{variable}={json.dumps(value)} is not valid{detail}; allowed: {allowed}")


@dataclass(frozen=True)
class Settings:
    """What the environment asks of the server, validated. Field comments name the variable."""

    loglevel: str  # LOG_LEVEL, lower case
    log_format: str  # LOG_FORMAT: text | json
    workers: int  # WEB_CONCURRENCY, or computed from the CPU budget
    workers_per_core: float  # WORKERS_PER_CORE (default DEFAULT_WORKERS_PER_CORE, else 1)
    max_workers: int | None  # MAX_WORKERS
    web_concurrency: int | None  # WEB_CONCURRENCY
    cpus: int  # the container's CPU budget
    host: str  # HOST
    port: str  # PORT
    bind: str  # BIND, else HOST:PORT (comma-separated for several addresses)
    timeout: int  # TIMEOUT
    graceful_timeout: int  # GRACEFUL_TIMEOUT
    keepalive: int  # KEEP_ALIVE
    accesslog: str | None  # ACCESS_LOG; None = disabled
    errorlog: str | None  # ERROR_LOG; None = disabled
    worker_class: str  # WORKER_CLASS or DEFAULT_WORKER_CLASS, canonical; may be "auto"
    worker_class_from_env: bool  # WORKER_CLASS was set (then it beats the config file)
    gunicorn_conf: Path  # GUNICORN_CONF, else discovered
    threads: int | None = None  # THREADS
    max_requests: int | None = None  # MAX_REQUESTS
    max_requests_jitter: int | None = None  # MAX_REQUESTS_JITTER
    preload: bool = False  # PRELOAD: import the app in the master, then fork (workers share its pages)
    preload_modules: tuple[str, ...] = ()  # PRELOAD_MODULES (default DEFAULT_PRELOAD_MODULES): imported by the master
    forwarded_allow_ips: str | None = None  # FORWARDED_ALLOW_IPS (None: Gunicorn's default)
    prometheus_multiproc_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR
    run_as_root: bool = False  # RUN_AS_ROOT
    worker_user: str | None = None  # APP_USER when the master is root, else None (no switch)
    worker_group: int | None = None  # that user's primary group
    control_socket: str | None = None  # CONTROL_SOCKET; None = Gunicorn's control socket off
    worker_tmp_dir: str = "/tmp"  # /dev/shm when present
    reload_dirs: tuple[str, ...] = field(default_factory=tuple)  # RELOAD_DIRS (start-reload.sh only)
    header_timeout: float | None = DEFAULT_HEADER_TIMEOUT  # HEADER_TIMEOUT; None = off
    memory_limit: int | None = None  # the container's memory limit in bytes (cgroup); None = none
    worker_memory: int = DEFAULT_WORKER_MEMORY  # WORKER_MEMORY (default DEFAULT_WORKER_MEMORY), bytes
    workers_bound: str = "cpus"  # what decided `workers`: WEB_CONCURRENCY, cpus, MAX_WORKERS or memory
    health_bind: str | None = None  # HEALTH_BIND: host:port of the master's /livez and /readyz; None = off
    shutdown_delay: float = 0.0  # SHUTDOWN_DELAY: seconds not ready but serving after SIGTERM

    @property
    def binds(self) -> list[str]:
        return [address.strip() for address in self.bind.split(",") if address.strip()]

    def summary(self) -> dict[str, Any]:
        """tiangolo's `log_data` (same keys and meaning) plus our additions; the startup JSON line."""
        return {
            "loglevel": self.loglevel,
            "workers": self.workers,
            "bind": self.bind,
            "graceful_timeout": self.graceful_timeout,
            "timeout": self.timeout,
            "keepalive": self.keepalive,
            "errorlog": self.errorlog,
            "accesslog": self.accesslog,
            "workers_per_core": self.workers_per_core,
            "use_max_workers": self.max_workers,
            "host": self.host,
            "port": self.port,
            "log_format": self.log_format,
            "cpus": self.cpus,
            "memory_limit": memory.shown(self.memory_limit),
            "worker_memory": memory.shown(self.worker_memory),
            "workers_bound": self.workers_bound,
            "health_bind": self.health_bind,
            "shutdown_delay": self.shutdown_delay,
        }


def load_settings(
    env: Mapping[str, str],
    *,
    app_dir: Path = APP_DIR,
    image_config: Path = IMAGE_CONFIG,
    cpus: int | None = None,
    memory_limit: int | None | bool = True,
    euid: int | None = None,
    check_worker_import: bool = True,
    shm_dir: Path = Path("/dev/shm"),
) -> Settings:
    """Read and validate every server setting from `env` (raises SettingsError).

    The keyword arguments stand in for the machine in tests: the app dir, the CPU budget, the memory limit
    (True: read it from the cgroup; None: no limit), whether we are root, and /dev/shm.
    """
    loglevel = _choice(env, "LOG_LEVEL", "info", tuple(LOG_LEVELS))
    log_format = _choice(env, "LOG_FORMAT", "text", LOG_FORMATS)

    # The image's default (flask: 2) is checked under its own name, so a broken image says so.
    if _value(env, "WORKERS_PER_CORE", ""):
        workers_per_core = _number(env, "WORKERS_PER_CORE", "1")
    else:
        workers_per_core = _number(env, "DEFAULT_WORKERS_PER_CORE", "1")
    max_workers = _optional_int(env, "MAX_WORKERS", minimum=1)
    web_concurrency = _optional_int(env, "WEB_CONCURRENCY", minimum=1)
    if cpus is None:
        cpus = cpu.cpu_budget()
    worker_memory = _size(env, "WORKER_MEMORY", _size(env, "DEFAULT_WORKER_MEMORY", DEFAULT_WORKER_MEMORY))
    if memory_limit is True:
        memory_limit = memory.memory_limit()
    worker_total, workers_bound = cpu.worker_budget(
        cpus, workers_per_core, max_workers, web_concurrency, memory_limit or None, worker_memory)
    health_bind = _health_bind(env)
    shutdown_delay = _seconds_or_off(env, "SHUTDOWN_DELAY", 0.0) or 0.0

    host = _value(env, "HOST", "0.0.0.0")
    if not host or any(character.isspace() for character in host):
        raise invalid("HOST", host, "an IP address or host name, e.g. 0.0.0.0 or ::")
    port = _port(env)
    bind = _bind(env, host, port)

    timeout = _int(env, "TIMEOUT", 120, minimum=0)
    graceful_timeout = _int(env, "GRACEFUL_TIMEOUT", 120, minimum=0)
    keepalive = _int(env, "KEEP_ALIVE", 5, minimum=0)
    accesslog = _log_destination(env, "ACCESS_LOG")
    errorlog = _log_destination(env, "ERROR_LOG")

    worker_class, worker_class_from_env = _worker_class(env, check_worker_import)

    threads = _optional_int(env, "THREADS", minimum=1)
    max_requests = _optional_int(env, "MAX_REQUESTS", minimum=0)
    max_requests_jitter = _optional_int(env, "MAX_REQUESTS_JITTER", minimum=0)
    preload = _flag(env, "PRELOAD")
    preload_modules = _preload_modules(env)
    forwarded_allow_ips = _forwarded_allow_ips(env)
    prometheus_dir = _optional_absolute_path(env, "PROMETHEUS_MULTIPROC_DIR")
    control_socket = _optional_absolute_path(env, "CONTROL_SOCKET")
    header_timeout = _seconds_or_off(env, "HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT)

    run_as_root = _flag(env, "RUN_AS_ROOT")
    worker_user, worker_group = _worker_account(env, run_as_root, os.geteuid() if euid is None else euid)

    return Settings(
        loglevel=loglevel,
        log_format=log_format,
        workers=worker_total,
        workers_per_core=workers_per_core,
        max_workers=max_workers,
        web_concurrency=web_concurrency,
        cpus=cpus,
        host=host,
        port=port,
        bind=bind,
        timeout=timeout,
        graceful_timeout=graceful_timeout,
        keepalive=keepalive,
        accesslog=accesslog,
        errorlog=errorlog,
        worker_class=worker_class,
        worker_class_from_env=worker_class_from_env,
        gunicorn_conf=gunicorn_conf_path(env, app_dir, image_config),
        threads=threads,
        max_requests=max_requests,
        max_requests_jitter=max_requests_jitter,
        preload=preload,
        preload_modules=preload_modules,
        forwarded_allow_ips=forwarded_allow_ips,
        prometheus_multiproc_dir=prometheus_dir,
        run_as_root=run_as_root,
        worker_user=worker_user,
        worker_group=worker_group,
        control_socket=control_socket,
        worker_tmp_dir=str(shm_dir) if shm_dir.is_dir() else "/tmp",
        reload_dirs=_reload_dirs(env, app_dir),
        header_timeout=header_timeout,
        memory_limit=memory_limit or None,
        worker_memory=worker_memory,
        workers_bound=workers_bound,
        health_bind=health_bind,
        shutdown_delay=shutdown_delay,
    )


def app_module(env: Mapping[str, str], app_dir: Path = APP_DIR, search_path: Sequence[str] | None = None) -> str:
    """APP_MODULE, else MODULE_NAME:VARIABLE_NAME with tiangolo's defaults; the module must be findable."""
    if search_path is None:
        search_path = [str(app_dir), *sys.path]
    explicit = _value(env, "APP_MODULE", "")
    if explicit:
        variable, value = "APP_MODULE", explicit
        module_name, expression = apps.split_app_module(explicit)
    else:
        variable_name = _value(env, "VARIABLE_NAME", "app") or "app"
        module_name = _value(env, "MODULE_NAME", "")
        if not module_name:
            found = apps.default_module_name(app_dir)
            if found is None:
                places = " or ".join(str(path) for path in apps.default_module_locations(app_dir))
                raise SettingsError(
                    f"No app found: MODULE_NAME and APP_MODULE are not set and there is no {places}; "
                    "allowed: put your app there, or set MODULE_NAME (e.g. myapp.main) or APP_MODULE "
                    "(e.g. myapp.main:app)"
                )
            module_name = found
        variable, value = "MODULE_NAME", module_name
        expression = variable_name
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise invalid(variable, value, "a dotted module name such as app.main (APP_MODULE: module:variable)")
    if not expression.strip():
        raise invalid(variable, value, "module:variable, e.g. main:app")
    if not apps.module_is_findable(module_name, search_path):
        raise invalid(
            variable,
            value,
            f"a module importable from {app_dir} (e.g. main or app.main) or from the installed packages",
            f"there is no module {module_name} in {app_dir} nor in the installed packages",
        )
    try:
        object_name = apps.parse_object_expression(expression)[0]
    except apps.AppLoadError as error:
        raise invalid(variable, value, "module:variable or module:factory(), e.g. main:app", str(error)) from None
    if apps.module_binds(module_name, object_name, search_path) is False:
        name_variable, name_value = ("APP_MODULE", explicit) if explicit else ("VARIABLE_NAME", expression)
        raise invalid(
            name_variable,
            name_value,
            f"the name of the app object defined in module {module_name}",
            f"module {module_name} defines no {object_name!r}",
        )
    return f"{module_name}:{expression}"


def gunicorn_conf_path(env: Mapping[str, str], app_dir: Path = APP_DIR, image_config: Path = IMAGE_CONFIG) -> Path:
    """GUNICORN_CONF (must exist), else the first of /app/gunicorn_conf.py, /app/app/gunicorn_conf.py, /gunicorn_conf.py."""
    value = _value(env, "GUNICORN_CONF", "")
    if not value:
        return config_files.discover_config(app_dir, image_config)
    path = Path(value)
    if not path.is_absolute():
        path = app_dir / path
    if not path.is_file():
        raise invalid(
            "GUNICORN_CONF", value, "the path of an existing Gunicorn config file (.py)", f"there is no file {path}"
        )
    return path


# --- one small parser per kind of value --------------------------------------------------------------


def _value(env: Mapping[str, str], name: str, default: str) -> str:
    """The variable, stripped; unset means the default. (Set-but-empty is returned as "".)"""
    value = env.get(name)
    return default if value is None else value.strip()


def _choice(env: Mapping[str, str], name: str, default: str, allowed: Sequence[str]) -> str:
    value = _value(env, name, default) or default
    if value.lower() not in allowed:
        raise invalid(name, value, f"one of {', '.join(allowed)} (any case)")
    return value.lower()


def _number(env: Mapping[str, str], name: str, default: str) -> float:
    raw = _value(env, name, default) or default
    try:
        number = float(raw)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise invalid(name, raw, "a number greater than 0, e.g. 1, 2 or 0.5")
    return number


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = _optional_int(env, name, minimum)
    return default if value is None else value


def _optional_int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    raw = _value(env, name, "")
    if raw == "":
        return None
    try:
        number = int(raw)
    except ValueError:
        number = None
    if number is None or number < minimum:
        kind = "a whole number" + (" greater than 0" if minimum == 1 else " of 0 or more" if minimum == 0 else "")
        raise invalid(name, raw, kind)
    return number


def _seconds_or_off(env: Mapping[str, str], name: str, default: float) -> float | None:
    """A number of seconds; 0 turns the limit off (None)."""
    raw = _value(env, name, "")
    if raw == "":
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 <= seconds < float("inf"):
        raise invalid(name, raw, "a number of seconds of 0 or more (0 turns it off), e.g. 10 or 2.5")
    return seconds or None


def _size(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _value(env, name, "")
    if raw == "":
        return default
    try:
        return memory.parse_size(raw)
    except ValueError:
        raise invalid(name, raw, "a size in bytes or with K, M or G (powers of 1024), e.g. 200M or 1G") from None


def _health_bind(env: Mapping[str, str]) -> str | None:
    """HEALTH_BIND: one HOST:PORT (or [IPv6]:PORT) with a port, for the master's probes; empty means off."""
    raw = _value(env, "HEALTH_BIND", "")
    if not raw:
        return None
    host, _, port = raw.rpartition(":")
    if raw.startswith(("unix:", "fd://")) or not host or not _valid_bind_address(raw) or not port.isdigit() \
            or not 0 < int(port) <= 65535:
        raise invalid("HEALTH_BIND", raw, "HOST:PORT or [IPv6]:PORT with a port from 1 to 65535, e.g. 0.0.0.0:8081")
    return raw


def _port(env: Mapping[str, str]) -> str:
    raw = _value(env, "PORT", "80") or "80"
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise invalid("PORT", raw, "a TCP port number from 1 to 65535")
    return str(int(raw))


def _bind(env: Mapping[str, str], host: str, port: str) -> str:
    raw = _value(env, "BIND", "")
    if not raw:
        # An IPv6 host needs brackets (tiangolo wrote ":::80", which Gunicorn cannot parse).
        return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    for address in (part.strip() for part in raw.split(",")):
        if not _valid_bind_address(address):
            raise invalid("BIND", raw, "HOST:PORT, [IPv6]:PORT, unix:/path or fd://N (several separated by commas)")
    return raw


def _valid_bind_address(address: str) -> bool:
    if address.startswith("unix:"):
        return len(address) > len("unix:")
    if address.startswith("fd://"):
        return address[len("fd://") :].isdigit()
    if not address or any(character.isspace() for character in address):
        return False
    if address.startswith("["):
        host, bracket, rest = address[1:].partition("]")
        if not bracket or not host:
            return False
        port = rest[1:] if rest.startswith(":") else ("" if rest == "" else None)
    elif address.count(":") == 1:
        port = address.partition(":")[2]
    elif ":" in address:
        return False  # a bare IPv6 address: brackets are required to tell the port apart
    else:
        port = ""  # a host alone: Gunicorn's default port 8000
    if port is None:
        return False
    return port == "" or (port.isdigit() and 0 <= int(port) <= 65535)


def _log_destination(env: Mapping[str, str], name: str) -> str | None:
    """ "-" (default: stdout/stderr), a file path, or empty to disable (None)."""
    value = env.get(name, "-").strip()
    return value or None


def _worker_class(env: Mapping[str, str], check_import: bool) -> tuple[str, bool]:
    """WORKER_CLASS if set, else the image's DEFAULT_WORKER_CLASS (else auto); canonical and checked.

    Only a class the user names is imported to check it: the image's default is installed with the image
    (its tests start it), and importing uvicorn_worker costs about 0.1 s of every start."""
    explicit = _value(env, "WORKER_CLASS", "")
    name, value = (
        ("WORKER_CLASS", explicit) if explicit else ("DEFAULT_WORKER_CLASS", _value(env, "DEFAULT_WORKER_CLASS", ""))
    )
    canonical = workers.canonical_name(value) or workers.AUTO
    problem = workers.check_worker_class(canonical, importlib.import_module if check_import and explicit else None)
    if problem:
        raise invalid(name, value, workers.ALLOWED_DESCRIPTION, problem)
    return canonical, bool(explicit)


def _preload_modules(env: Mapping[str, str]) -> tuple[str, ...]:
    """PRELOAD_MODULES if set (empty: none), else the image's DEFAULT_PRELOAD_MODULES: dotted module names
    separated by commas or blanks. Only their form is checked here; the master imports them."""
    name = "PRELOAD_MODULES" if env.get("PRELOAD_MODULES") is not None else "DEFAULT_PRELOAD_MODULES"
    raw = _value(env, name, "")
    modules = tuple(dict.fromkeys(raw.replace(",", " ").split()))
    for module in modules:
        if not all(part.isidentifier() for part in module.split(".")):
            raise invalid(name, raw, "dotted module names separated by commas or blanks, e.g. fastapi,sqlalchemy.orm",
                          f"{module!r} is not a module name")
    return modules


def _forwarded_allow_ips(env: Mapping[str, str]) -> str | None:
    if env.get("FORWARDED_ALLOW_IPS") is None:
        return None  # Gunicorn's default: 127.0.0.1,::1
    raw = _value(env, "FORWARDED_ALLOW_IPS", "")
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    for entry in entries:
        if entry == "*":
            continue
        try:
            ip_network(entry, strict=False)
        except ValueError:
            raise invalid(
                "FORWARDED_ALLOW_IPS", raw, "* or comma-separated IP addresses or networks, e.g. 10.0.0.0/8,127.0.0.1"
            ) from None
    return ",".join(entries)  # empty: trust no proxy's X-Forwarded-* headers


def _optional_absolute_path(env: Mapping[str, str], name: str) -> str | None:
    raw = _value(env, name, "")
    if not raw:
        return None
    if not raw.startswith("/"):
        raise invalid(name, raw, "an absolute path, e.g. /tmp/something (or empty to turn it off)")
    return raw


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = _value(env, name, "")
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise invalid(name, raw, "1/true/yes/on or 0/false/no/off (or empty)")


def _worker_account(
    env: Mapping[str, str],
    run_as_root: bool,
    euid: int,
    lookup: Callable[[str], pwd.struct_passwd] = pwd.getpwnam,
) -> tuple[str | None, int | None]:
    """The account workers switch to: only when the master is root and RUN_AS_ROOT is off.

    When the container already runs as someone else (`docker run --user 12345:0`) nothing changes.
    """
    if euid != 0 or run_as_root:
        return None, None
    name = _value(env, "APP_USER", "app") or "app"
    if name.isdigit():
        try:
            return name, pwd.getpwuid(int(name)).pw_gid
        except KeyError:
            return name, 0  # an arbitrary uid without a passwd entry: group root, as OpenShift does
    try:
        account = lookup(name)
    except KeyError:
        raise invalid(
            "APP_USER", name, "an existing user name or a numeric uid (or set RUN_AS_ROOT=1 to serve as root)"
        ) from None
    return name, account.pw_gid


def _reload_dirs(env: Mapping[str, str], app_dir: Path) -> tuple[str, ...]:
    raw = _value(env, "RELOAD_DIRS", "")
    directories: list[str] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        path = Path(entry) if Path(entry).is_absolute() else app_dir / entry
        if not path.is_dir():
            raise invalid("RELOAD_DIRS", raw, "comma-separated existing directories (relative ones are under /app)")
        directories.append(str(path))
    return tuple(directories)
