"""The image's guarantees hold with any Gunicorn config: the layering of `gunicorn_image.serve`, and the version
guards of `gunicorn_image.patches`, without Docker (the container side is tests/container/test_config_styles.py)."""

from __future__ import annotations

import importlib
import json
import os
import pwd
import sys
import types
from pathlib import Path

import pytest
from gunicorn_image import contract, patches
from unit_support import SHARED, needs_gunicorn

# tiangolo's README config, standalone: no import of ours.
STANDALONE = """
import multiprocessing, os
workers = int(os.getenv("WEB_CONCURRENCY", "2"))
bind = "0.0.0.0:8080"
keepalive = 120
errorlog = "-"
loglevel = "info"
"""
EXTENDING_WITH_HOOK = """
from gunicorn_image.gunicorn_config import *
workers = 3
CALLS = []
def post_fork(server, worker):
    CALLS.append(("theirs", worker))
"""
SWITCHES_OFF = """
user = 0
limit_request_field_size = 0
control_socket_disable = False
"""
OLD_STYLE = """
import startup.gunicorn_config as image
from startup.gunicorn_config import *
def on_starting(server):
    image.on_starting(server)  # what our old README told users to do: now a no-op
    print("their on_starting")
"""
ENV = {"APP_USER": "nobody", "RUN_AS_ROOT": "", "WEB_CONCURRENCY": "4", "PRE_START_PATH": "", "LOG_LEVEL": "info"}


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Run `gunicorn_image.serve`'s loading on a config text with an environment; returns the application."""
    pytest.importorskip("gunicorn")
    if os.geteuid() != 0:
        pytest.skip("the worker-account layering needs a root master, as in the images (CI runs as root)")

    def run(config: str | None, env: dict[str, str] | None = None, cmd_args: str = ""):
        for name, value in {**ENV, **(env or {})}.items():
            monkeypatch.setenv(name, value)
        if cmd_args:
            monkeypatch.setenv("GUNICORN_CMD_ARGS", cmd_args)
        else:
            monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
        for module in ("gunicorn_image.gunicorn_config", "startup.gunicorn_config", "startup"):
            monkeypatch.delitem(sys.modules, module, raising=False)  # re-read the environment
        path = SHARED / "gunicorn_conf.py"
        if config is not None:
            path = tmp_path / "gunicorn_conf.py"
            path.write_text(config)
        monkeypatch.setattr(sys, "argv", ["gunicorn", "-c", str(path), "main:app"])
        monkeypatch.chdir(tmp_path)
        from gunicorn_image import serve

        monkeypatch.setattr(serve.ImageApplication, "_patch_modules", None)
        return serve.ImageApplication("%(prog)s [OPTIONS] [APP_MODULE]", prog="gunicorn")

    return run


def hook_owner(hook) -> object:
    return getattr(hook, "__self__", None) or getattr(hook, "__wrapped_hooks__", (None,))[0].__self__


@needs_gunicorn
@pytest.mark.parametrize("style", ["none", "standalone", "extending", "old-style"])
def test_every_config_style_gets_the_guarantees(load, style: str) -> None:
    config = {"none": None, "standalone": STANDALONE, "extending": EXTENDING_WITH_HOOK, "old-style": OLD_STYLE}[style]
    cfg = load(config).cfg
    assert cfg.uid == pwd.getpwnam("nobody").pw_uid, "workers must not run as root"
    assert cfg.control_socket_disable is True
    assert cfg.worker_tmp_dir == ("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp")
    assert cfg.logger_class.__module__ == "gunicorn_image.gunicorn_logging"
    assert (cfg.limit_request_line, cfg.limit_request_fields, cfg.limit_request_field_size) == (4094, 100, 8190)
    for name in contract.HOOKS:
        assert isinstance(hook_owner(getattr(cfg, name)), contract.ImageHooks), f"{name} is not the image's"


@needs_gunicorn
def test_the_users_values_win_over_the_image_defaults(load) -> None:
    cfg = load(STANDALONE).cfg
    assert (cfg.workers, cfg.bind, cfg.keepalive) == (4, ["0.0.0.0:8080"], 120)


@needs_gunicorn
def test_the_users_hook_runs_after_the_images(load, monkeypatch) -> None:
    application = load(EXTENDING_WITH_HOOK)
    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(patches, "apply", lambda modules, worker, *rest: calls.append(("ours", worker)))
    worker = types.SimpleNamespace(log=None)
    application.cfg.post_fork(types.SimpleNamespace(cfg=application.cfg), worker)
    theirs = sys.modules["__config__"].CALLS
    assert calls == [("ours", worker)] and theirs == [("theirs", worker)]
    assert application.cfg.workers == 3


@needs_gunicorn
def test_an_old_config_calling_our_hooks_gets_one_settings_line(load, capsys) -> None:
    application = load(OLD_STYLE)
    log = types.SimpleNamespace(warning=lambda *args: None)
    application.cfg.on_starting(types.SimpleNamespace(cfg=application.cfg, log=log))
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.startswith("{")]) == 1 and lines[-1] == "their on_starting"
    assert json.loads(lines[0])["workers"] == 4


@needs_gunicorn
def test_a_guarantee_switched_off_explicitly_is_kept_and_announced(load) -> None:
    application = load(SWITCHES_OFF)
    cfg = application.cfg
    assert (cfg.uid, cfg.limit_request_field_size, cfg.control_socket_disable) == (0, 0, False)
    notes = application._hooks.notes
    for name in ("user", "limit_request_field_size", "control_socket_disable"):
        assert len([n for n in notes if f"sets {name} = " in n]) == 1, notes
    assert all(note.endswith("yours is used") and "\n" not in note for note in notes)


@needs_gunicorn
def test_gunicorn_cmd_args_that_switch_a_guarantee_off_are_announced(load) -> None:
    application = load(None, cmd_args="--limit-request-field_size 0 --workers 2")
    assert application.cfg.limit_request_field_size == 0 and application.cfg.workers == 2
    assert [n for n in application._hooks.notes if n.startswith("GUNICORN_CMD_ARGS sets limit_request_field_size = 0")]


@needs_gunicorn
@pytest.mark.parametrize("config", [None, EXTENDING_WITH_HOOK, STANDALONE])
def test_a_config_that_keeps_the_guarantees_prints_no_note(load, config: str | None) -> None:
    assert load(config)._hooks.notes == []


def test_chained_hooks_have_the_arity_gunicorn_checks() -> None:
    def ours(server, worker):
        pass

    def theirs(server, worker):
        return "theirs"

    from inspect import signature

    hook = contract.chain(ours, theirs)
    assert len(signature(hook).parameters) == 2 and hook(1, 2) == "theirs"


def test_explicit_names_ignore_what_import_star_brought() -> None:
    defaults = {"workers": 2, "bind": ["0.0.0.0:80"]}
    namespace = {"workers": 2, "bind": ["0.0.0.0:80"], "keepalive": 9, "helper": 1}
    assert contract.explicit_names(namespace, defaults, {"workers", "bind", "keepalive"}) == {"keepalive"}


# --- the version guards of gunicorn_image.patches -----------------------------------------------------------


def versions(**found: str):
    return lambda name: found.get(name.replace("-", "_"))


def test_a_patch_for_an_unknown_version_is_skipped_with_one_line_naming_it() -> None:
    warnings: list[str] = []
    usable = patches.check(warnings.append, version_of=versions(gunicorn="26.1.0", uvicorn="0.54.0",
                                                                 uvicorn_worker="0.4.0"))
    assert usable == ("uvicorn_limits", "uvicorn_drain")
    assert len(warnings) == 2 and all("gunicorn 26.1.0" in w and "27.0.*" in w for w in warnings), warnings


def test_a_newer_uvicorn_skips_only_the_uvicorn_patches() -> None:
    warnings: list[str] = []
    usable = patches.check(warnings.append, version_of=versions(gunicorn="27.0.1", uvicorn="0.55.0"))
    assert usable == ("gthread_heads", "gunicorn_error_pages")
    assert len(warnings) == 2 and all("uvicorn 0.55.0" in w for w in warnings)


def test_patches_for_a_server_that_is_not_installed_are_silent() -> None:
    warnings: list[str] = []
    assert patches.check(warnings.append, version_of=versions(gunicorn="27.0.1")) == (
        "gthread_heads", "gunicorn_error_pages")
    assert warnings == []


@pytest.mark.parametrize(("version", "prefix", "follows"), [
    ("27.0.1", "27.0.", True), ("27.0", "27.0.", True), ("27.10.0", "27.1.", False), ("26.1.0", "27.0.", False),
])
def test_version_series(version: str, prefix: str, follows: bool) -> None:
    assert patches.version_follows(version, prefix) is follows


def test_a_patch_that_fails_in_a_worker_is_logged_and_the_others_applied(monkeypatch) -> None:
    applied: list[str] = []
    broken = types.ModuleType("gunicorn_image.patches.broken")

    def fail(*args: object) -> None:
        raise AttributeError("take_buffered")

    broken.apply_patch = fail  # type: ignore[attr-defined]
    fine = types.ModuleType("gunicorn_image.patches.fine")
    fine.apply_patch = lambda *args: applied.append("fine")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gunicorn_image.patches.broken", broken)
    monkeypatch.setitem(sys.modules, "gunicorn_image.patches.fine", fine)
    warnings: list[str] = []
    patches.apply(("broken", "fine"), object(), None, None, warnings.append)
    assert applied == ["fine"] and len(warnings) == 1 and "take_buffered" in warnings[0]


@needs_gunicorn
@pytest.mark.parametrize("patch", [p.module for p in patches.PATCHES])
def test_every_private_name_a_patch_relies_on_exists_in_the_pinned_versions(patch: str) -> None:
    """The test venv pins the images' Gunicorn, Uvicorn and uvicorn-worker (tests/requirements.txt)."""
    module = importlib.import_module(f"gunicorn_image.patches.{patch}")
    assert module.PRIVATE_NAMES, f"{patch} names no private part it relies on"
    follows = next(p.follows for p in patches.PATCHES if p.module == patch)
    for distribution, prefix in follows.items():
        installed = patches.installed_version(distribution)
        assert installed and patches.version_follows(installed, prefix), (
            f"the test venv has {distribution} {installed}; {patch} follows {prefix}*")
    missing = [why for name in module.PRIVATE_NAMES if (why := patches.private_name_missing(name))]
    assert not missing, missing


def test_a_missing_private_name_is_reported() -> None:
    assert "no 'gone'" in (patches.private_name_missing("json.JSONDecoder.gone") or "")
    assert "does not use 'nothing_here'" in (patches.private_name_missing("json.dumps#nothing_here") or "")


def test_a_booting_worker_is_ended_by_a_stop_signal_not_the_masters_handler(monkeypatch) -> None:
    import signal

    from gunicorn_image.settings import load_settings

    installed: dict[int, object] = {}
    monkeypatch.setattr(signal, "signal", lambda signum, handler: installed.__setitem__(signum, handler))
    monkeypatch.setattr(patches, "apply", lambda *args: None)
    settings = load_settings({"RUN_AS_ROOT": "1", "WEB_CONCURRENCY": "1", "PRE_START_PATH": ""},
                             check_worker_import=False)
    hooks = contract.ImageHooks(settings, {})
    hooks.post_fork(types.SimpleNamespace(cfg=types.SimpleNamespace(uid=os.geteuid())), types.SimpleNamespace())
    assert installed == {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.SIG_DFL, signal.SIGQUIT: signal.SIG_DFL}


def test_installed_versions_read_from_folder_names_agree_with_importlib_metadata() -> None:
    from importlib import metadata

    names = {dist.metadata["Name"] for dist in metadata.distributions()}
    assert {"gunicorn", "uvicorn", "uvicorn-worker"} <= {name.lower() for name in names}
    for name in names:
        assert patches.installed_version(name) == metadata.version(name), name


def test_the_first_dist_info_folder_on_sys_path_wins_and_a_missing_one_is_none(monkeypatch, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, dist_infos in ((first, ["Some.Server-2.0.1.dist-info", "notes.txt"]),
                               (second, ["some_server-1.0.dist-info", "other_server-3.4.dist-info"])):
        for name in dist_infos:
            (folder / name).mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [str(tmp_path / "absent"), str(first), str(second)])
    patches.dist_info_versions.cache_clear()
    patches.installed_version.cache_clear()
    try:
        assert patches.installed_version("some-server") == "2.0.1"
        assert patches.installed_version("Other.Server") == "3.4"
        assert patches.installed_version("no-such-server-anywhere") is None
    finally:
        patches.dist_info_versions.cache_clear()
        patches.installed_version.cache_clear()
