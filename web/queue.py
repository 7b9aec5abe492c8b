"""The portal's side of the grading queue: publish a run once its row is committed; count live workers."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from flask import Flask, current_app

from nngrade.settings import Settings

_EXTENSION = "nngrade.queue"
WORKER_COUNT_TTL_S = 15.0


class RunQueue(Protocol):
    """Where grading runs go. The gradebook row is the truth; a lost publish is resent by the workers' sweep."""

    def publish(self, run_id: int, purpose: str) -> None:
        """Send run `run_id` ("submission" or "regrade" decides the queue)."""
        ...

    def worker_count(self) -> int | None:
        """Workers that answered lately; None when the broker cannot be asked."""
        ...


class CeleryQueue:
    """Publishing through worker.api on the Celery app the settings describe, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app: Any = None
        self._lock = threading.Lock()
        self._workers: tuple[float, int | None] = (-WORKER_COUNT_TTL_S, None)

    def _celery(self) -> Any:
        with self._lock:
            if self._app is None:
                from worker.app import make_celery

                self._app = make_celery(self._settings)
            return self._app

    def publish(self, run_id: int, purpose: str) -> None:
        """Send the run's task; a broker that is down is logged by worker.api, never raised to the page."""
        from worker.api import publish_run

        publish_run(self._celery(), run_id, purpose)

    def worker_count(self) -> int | None:
        """Workers that answered a ping, asked of Celery at most every WORKER_COUNT_TTL_S seconds."""
        checked_at, count = self._workers
        if time.monotonic() - checked_at < WORKER_COUNT_TTL_S:
            return count
        try:
            replies = self._celery().control.ping(timeout=0.5) or []
            count = len({name for reply in replies for name in reply})
        except Exception:  # an unreachable broker must not break the dashboard
            count = None
        self._workers = (time.monotonic(), count)
        return count


def init_app(app: Flask, settings: Settings, queue: RunQueue | None) -> None:
    """Attach `queue` (tests pass their own) or a Celery queue built from `settings`."""
    app.extensions[_EXTENSION] = queue if queue is not None else CeleryQueue(settings)


def run_queue() -> RunQueue:
    """The current app's queue."""
    queue: RunQueue = current_app.extensions[_EXTENSION]
    return queue
