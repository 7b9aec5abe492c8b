"""The database sweep: resend what the database says is pending but nothing is working on.

Runs on a timer thread in each worker's main process, so `nngrade worker` alone keeps the queue whole:
after a worker dies (stale heartbeat), after Redis loses messages, and when a delayed run's retry is due.
Each round also removes the sandboxes of dead owners (see worker.reaper).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gradebook.db import transaction
from gradebook.retries import Resend, runs_to_resend
from gradebook.workers import forget_dead_workers
from worker.broker import publish_run, run_ids_in_broker
from worker.options import WorkerOptions

logger = logging.getLogger(__name__)

# Records of workers silent for this long are dropped (their sandboxes were reaped long before).
FORGET_WORKERS_AFTER_S = 7 * 24 * 3600.0


def sweep_once(app: Any, sessions: sessionmaker[Session], options: WorkerOptions) -> list[Resend]:
    """One round: requeue lost, due and missing runs (failing those lost too often) and publish them."""
    in_broker = run_ids_in_broker(app)
    with transaction(sessions) as session:
        resends = runs_to_resend(session, lease_s=options.lease_s, queued_grace_s=options.queued_grace_s,
                                 in_broker=in_broker, max_failures=max(1, int(options.max_failures)))
        forget_dead_workers(session, FORGET_WORKERS_AFTER_S)
    for r in resends:
        logger.warning("sweep: resending run %s (%s)", r.run_id, r.why)
        publish_run(app, r.run_id, r.purpose)
    return resends


class Sweeper:
    """The sweep and the orphan reaping on one daemon thread, every `sweep_interval_s`."""

    def __init__(
        self, app: Any, sessions: sessionmaker[Session], options: WorkerOptions,
        reap_orphans: Callable[[], int] | None = None,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.options = options
        self._reap_orphans = reap_orphans
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nngrade-sweep", daemon=True)

    def start(self) -> None:
        """Sweep once now, then every `sweep_interval_s` on the thread."""
        self.reap()
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after the current sweep (waits up to 10 s)."""
        self._stop.set()
        self._thread.join(timeout=10)

    def reap(self) -> None:
        """Remove sandboxes whose owners cannot finish them; never fatal."""
        if self._reap_orphans is None:
            return
        try:
            self._reap_orphans()
        except SQLAlchemyError as exc:
            logger.warning("orphan reaping skipped (database unavailable): %s", exc)
        except Exception:
            logger.exception("orphan reaping failed")

    def _loop(self) -> None:
        while not self._stop.wait(self.options.sweep_interval_s):
            try:
                sweep_once(self.app, self.sessions, self.options)
            except SQLAlchemyError as exc:
                logger.warning("sweep: database unavailable: %s", exc)
            except Exception:
                logger.exception("sweep failed")
            self.reap()
