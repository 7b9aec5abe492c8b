"""The database sweep: resend what the database says is pending but nothing is working on.

Runs on a timer thread in each worker's main process, so `nngrade worker` alone keeps the queue whole:
after a worker dies (stale heartbeat), after Redis loses messages, and when a delayed run's retry is due.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from gradebook.db import make_engine, make_sessionmaker, transaction
from gradebook.runs import Resend, runs_to_resend
from nngrade.settings import Settings
from worker.broker import publish_run, run_ids_in_broker
from worker.context import build_runner
from worker.options import WorkerOptions

logger = logging.getLogger(__name__)


def sweep_once(app: Any, sessions: Any, options: WorkerOptions) -> list[Resend]:
    in_broker = run_ids_in_broker(app)
    with transaction(sessions) as session:
        resends = runs_to_resend(session, lease_s=options.lease_s, queued_grace_s=options.queued_grace_s,
                                 in_broker=in_broker)
    for r in resends:
        logger.warning("sweep: resending run %s (%s)", r.run_id, r.why)
        publish_run(app, r.run_id, r.purpose)
    return resends


class Sweeper:
    def __init__(self, app: Any, settings: Settings, options: WorkerOptions) -> None:
        self.app = app
        self.settings = settings
        self.options = options
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nngrade-sweep", daemon=True)
        self._engine = make_engine(settings.database_url)
        self._sessions = make_sessionmaker(self._engine)
        # Pool children forked later must not touch this engine's connections.
        os.register_at_fork(after_in_child=lambda: self._engine.dispose(close=False))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._engine.dispose()

    def reap_orphans(self) -> None:
        """Remove sandbox containers a killed worker left behind, when the runner supports it."""
        if self.options.runner_factory:
            return
        try:
            runner = build_runner(self.settings, self.options)
            reap = getattr(runner, "reap_orphans", None)
            if callable(reap):
                owner = getattr(getattr(runner, "settings", None), "owner", None)
                reap(owner)
        except Exception as exc:  # no engine here is not a reason to refuse to start
            logger.warning("orphan reaping skipped: %s", exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.options.sweep_interval_s):
            try:
                sweep_once(self.app, self._sessions, self.options)
            except SQLAlchemyError as exc:
                logger.warning("sweep: database unavailable: %s", exc)
            except Exception:
                logger.exception("sweep failed")
