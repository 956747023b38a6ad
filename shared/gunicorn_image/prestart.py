"""The prestart script (a leaf: imports nothing of ours).

tiangolo's start.sh sources the prestart into its own shell, so the script's `export`s reach the
server. We run the server from Python, so the script runs in bash (bashisms work) and bash hands its
final environment back over a pipe (`env -0 >&N`); the start script then uses that environment for
validation and for the server it execs.

Like tiangolo's `set -e` start.sh, bash runs the script with `set -e`: a failing command stops it.
The pipe is closed while the script runs so a background process it starts cannot hold the
pipe open.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP_DIR = Path("/app")
DEFAULT_PRESTART = "prestart.sh"  # in the app dir: /app/prestart.sh, tiangolo's default

# Sources the script, then writes the environment NUL-separated to the pipe's file descriptor {fd}.
BASH_WRAPPER = 'set -e; . "$1" {fd}>&-; exec env -0 >&{fd}'

# Variables bash sets for itself; they are not the user's exports.
BASH_OWN_VARIABLES = frozenset({"_", "SHLVL", "PWD", "OLDPWD"})


class PrestartFailed(Exception):
    """The script failed; `status` is its exit status, or minus the signal that killed it."""

    def __init__(self, path: Path, status: int) -> None:
        super().__init__(path, status)
        self.path = path
        self.status = status

    def __str__(self) -> str:
        if self.status < 0:
            how = f"was killed by signal {-self.status}"
        else:
            how = f"failed with exit status {self.status}"
        return f"the prestart script {self.path} (PRE_START_PATH) {how}; the server was not started"


def resolve_prestart_path(env: Mapping[str, str], app_dir: Path = APP_DIR) -> Path | None:
    """PRE_START_PATH (default /app/prestart.sh); a relative path is relative to /app; empty disables."""
    value = env.get("PRE_START_PATH", DEFAULT_PRESTART)
    if value.strip() == "":
        return None
    path = Path(value)
    return path if path.is_absolute() else app_dir / path


def run_prestart(path: Path, env: Mapping[str, str], cwd: Path = APP_DIR, bash: str | None = None) -> dict[str, str]:
    """Run the script with bash in `cwd`; return the environment it leaves (raises PrestartFailed).

    A script that ends with `exit 0` leaves no environment behind; then the one it got is kept.
    """
    import shutil  # here, not at the top: most starts have no script, and every start imports this module
    import subprocess
    import threading

    bash = bash or shutil.which("bash", path=env.get("PATH")) or "/bin/bash"
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [bash, "-c", BASH_WRAPPER.format(fd=write_end), "prestart", str(path)],
            env=dict(env),
            cwd=str(cwd) if cwd.is_dir() else None,
            pass_fds=(write_end,),
        )
    except OSError:
        os.close(read_end)
        raise PrestartFailed(path, 127) from None  # bash itself could not run: the shell's "not found"
    finally:
        os.close(write_end)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(read_end, chunks), daemon=True)
    reader.start()  # read while the script runs: a large environment would fill the pipe
    status = process.wait()
    reader.join()
    if status != 0:
        raise PrestartFailed(path, status)
    if not chunks:
        return dict(env)
    return parse_env_dump(b"".join(chunks), previous=env)


def parse_env_dump(dump: bytes, previous: Mapping[str, str]) -> dict[str, str]:
    """`env -0` output -> dict, keeping bash's own variables as they were before the script."""
    result: dict[str, str] = {}
    for entry in dump.split(b"\0"):
        if not entry or b"=" not in entry:
            continue
        key, _, value = entry.partition(b"=")
        name = os.fsdecode(key)
        if name not in BASH_OWN_VARIABLES:
            result[name] = os.fsdecode(value)
    for name in BASH_OWN_VARIABLES:
        if name in previous:
            result[name] = previous[name]
    return result


def _drain(fd: int, chunks: list[bytes]) -> None:
    with os.fdopen(fd, "rb") as pipe:
        while chunk := pipe.read(65536):
            chunks.append(chunk)
