"""gthread workers stop waiting on silent new connections; other workers are left alone."""

from __future__ import annotations

import pytest

gthread = pytest.importorskip("gunicorn.workers.gthread", reason="gunicorn is not installed")

from startup import gthread_tuning  # noqa: E402


def test_gthread_worker_defers_silent_connections_at_once(monkeypatch) -> None:
    monkeypatch.setattr(gthread, "DEFAULT_WORKER_DATA_TIMEOUT", 5.0)
    worker = gthread.ThreadWorker.__new__(gthread.ThreadWorker)  # no arbiter needed to tell its class
    gthread_tuning.apply(worker)
    assert gthread.DEFAULT_WORKER_DATA_TIMEOUT == gthread_tuning.IDLE_CONNECTION_WAIT_SECONDS < 0.1


def test_other_workers_leave_gthread_alone(monkeypatch) -> None:
    monkeypatch.setattr(gthread, "DEFAULT_WORKER_DATA_TIMEOUT", 5.0)
    gthread_tuning.apply(object())
    assert gthread.DEFAULT_WORKER_DATA_TIMEOUT == 5.0
