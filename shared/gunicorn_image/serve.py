"""The server /start.sh and /start-reload.sh exec: Gunicorn, with the image's guarantees on any config.

    python -m gunicorn_image.serve -c <config> [-k <worker class>] [gunicorn options] <app>

It takes Gunicorn's own command line (so the master's shows `-c <config path>`) and runs Gunicorn's
WSGI application runner, which serves WSGI and ASGI apps alike, with the configuration loaded in three
layers (`gunicorn_image.contract`): the image's defaults from the environment, then the user's config file,
GUNICORN_CMD_ARGS and the command line as Gunicorn loads them, then the image's hooks chained before the
user's. A guarantee the user's config changes explicitly is announced in one line, and theirs is kept.

The layering runs again on SIGHUP, as Gunicorn's own loading does.
"""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

from gunicorn.app.wsgiapp import WSGIApplication
from gunicorn.arbiter import Arbiter

from gunicorn_image import apps, contract, patches
from gunicorn_image.health import Health


class ImageApplication(WSGIApplication):
    """Gunicorn's `gunicorn` command, with `load_config` layered (see the module's docstring)."""

    _patch_modules: tuple[str, ...] | None = None  # checked once per process; a reload keeps the answer
    health: Health | None = None  # HEALTH_BIND's probes: one per process, kept across reloads

    def load_default_config(self) -> None:
        super().load_default_config()
        from gunicorn_image import gunicorn_config  # the environment, validated (the start script did so already)

        self._image_defaults = {
            name: getattr(gunicorn_config, name) for name in gunicorn_config.__all__ if name in self.cfg.settings
        }
        for name, value in self._image_defaults.items():
            self.cfg.set(name, value)
        self._image_values = {g.setting: self.cfg.settings[g.setting].get()
                              for g in contract.GUARANTEES if g.setting in self.cfg.settings}
        self._explicit: dict[str, set[str]] = {}
        self._hooks = contract.ImageHooks(gunicorn_config.settings, gunicorn_config.log_data)

    def load_config_from_file(self, filename: str) -> Any:
        namespace = super().load_config_from_file(filename)
        self._explicit[f"Your config ({filename})"] = contract.explicit_names(
            namespace, self._image_defaults, self.cfg.settings)
        return namespace

    def load_config(self) -> None:
        super().load_config()
        env_args = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())
        self._explicit["GUNICORN_CMD_ARGS"] = {
            name for name, value in vars(env_args).items() if value is not None and name in self.cfg.settings}
        final_values = {name: self.cfg.settings[name].get() for name in self._image_values}
        notes = [line for source, names in self._explicit.items()
                 for line in contract.announcements(names, self._image_values, final_values, source)]
        if ImageApplication._patch_modules is None:
            warnings: list[str] = []
            ImageApplication._patch_modules = patches.check(warnings.append)
            notes += warnings
        self._hooks.patch_modules = ImageApplication._patch_modules
        if self._hooks.settings.health_bind and ImageApplication.health is None:
            ImageApplication.health = Health(self._hooks.settings.health_bind)
        self._hooks.health = ImageApplication.health
        self._hooks.notes = notes
        contract.layer_hooks(self.cfg, self._hooks)

    def load(self) -> Any:
        """The app, in a worker; an ASGI 2 app is adapted for Gunicorn's asgi worker, which speaks only ASGI 3."""
        app = super().load()
        gasgi = sys.modules.get("gunicorn.workers.gasgi")
        if gasgi is not None and issubclass(self.cfg.worker_class, gasgi.ASGIWorker) and apps.is_asgi2_app(app):
            return apps.ASGI2App(app)
        return app


    def run(self) -> None:
        try:
            ImageArbiter(self).run()
        except RuntimeError as error:
            print(f"\nError: {error}\n", file=sys.stderr, flush=True)
            sys.exit(1)


class ImageArbiter(Arbiter):
    """Gunicorn's master, which also answers HEALTH_BIND's probes and honours SHUTDOWN_DELAY."""

    app: ImageApplication

    def start(self) -> None:
        super().start()  # binds the listeners, runs on_starting and when_ready; no worker yet
        if self.app.health is not None:
            self.app.health.start(lambda: list(self.WORKERS))

    def handle_term(self) -> None:
        """SIGTERM: not ready at once, go on serving for SHUTDOWN_DELAY seconds, then Gunicorn's graceful stop.
        A second SIGTERM, or SIGINT/SIGQUIT, ends the wait."""
        delay = self.app._hooks.settings.shutdown_delay
        if self.app.health is not None:
            self.app.health.stopping = True
        if delay > 0 and not hasattr(self, "wait_for_signals"):  # Gunicorn before 27 queues signals otherwise
            self.log.warning("SHUTDOWN_DELAY needs Gunicorn 27's master loop; stopping now")
        elif delay > 0:
            self.log.info("Not ready any more; serving for SHUTDOWN_DELAY=%gs before stopping", delay)
            self._serve_until(time.monotonic() + delay)
        super().handle_term()

    def _serve_until(self, deadline: float) -> None:
        """The master's loop, without taking new orders, until `deadline` or another stop signal."""
        while (left := deadline - time.monotonic()) > 0:
            for sig in self.wait_for_signals(timeout=min(left, 1.0)):
                if sig == signal.SIGCHLD:
                    self.handle_chld()  # reap and replace workers as usual
                elif sig == signal.SIGTERM:
                    return  # a second SIGTERM: stop gracefully now
                elif sig in (signal.SIGINT, signal.SIGQUIT):
                    self.stop(graceful=False)
                    raise StopIteration
            self.murder_workers()
            self.manage_workers()


def main() -> None:
    ImageApplication("%(prog)s [OPTIONS] [APP_MODULE]", prog="gunicorn").run()


if __name__ == "__main__":
    main()
