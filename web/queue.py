"""The portal's side of the grading queue: publish a run once its row is committed (the sweep resends a lost one)."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from flask import Flask, current_app

from nngrade.settings import Settings

_EXTENSION = "nngrade.queue"


class RunQueue(Protocol):
    """Where grading runs go. The gradebook row is the truth; a lost publish is resent by the workers' sweep."""

    def publish(self, run_id: int, purpose: str) -> None:
        """Send run `run_id` ("submission" or "regrade" decides the queue)."""
        ...


class CeleryQueue:
    """Publishing through worker.broker on the Celery app the settings describe, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app: Any = None
        self._lock = threading.Lock()

    def _celery(self) -> Any:
        with self._lock:
            if self._app is None:
                from worker.app import make_celery

                self._app = make_celery(self._settings)
            return self._app

    def publish(self, run_id: int, purpose: str) -> None:
        """Send the run's task; a broker that is down is logged by worker.broker, never raised to the page."""
        from worker.broker import publish_run

        publish_run(self._celery(), run_id, purpose)


def init_app(app: Flask, settings: Settings, queue: RunQueue | None) -> None:
    """Attach `queue` (tests pass their own) or a Celery queue built from `settings`."""
    app.extensions[_EXTENSION] = queue if queue is not None else CeleryQueue(settings)


def run_queue() -> RunQueue:
    """The current app's queue."""
    queue: RunQueue = current_app.extensions[_EXTENSION]
    return queue
