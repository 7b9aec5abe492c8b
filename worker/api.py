"""What the web portal and the CLI call: record first, then publish; the database stays the truth.

A publish that fails (Redis down) is not an error for the caller: the run is already queued in the
database and the workers' sweep sends it once the broker is back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from gradebook.db import make_engine, make_sessionmaker, transaction
from gradebook.models import GradingRun
from gradebook.regrade import RegradeScope, create_change_set
from gradebook.retries import retry_failed_run
from gradebook.status import FailedRun, QueueCounts, failed_runs, queue_counts
from gradebook.workers import WorkerState, live_workers
from nngrade.settings import Settings
from worker.app import make_celery
from worker.broker import broker_depths, publish_run
from worker.options import WorkerOptions

logger = logging.getLogger(__name__)

__all__ = ["GradingQueue", "QueueStatus"]


@dataclass(frozen=True)
class QueueStatus:
    """The queue as `nngrade status` shows it (cli.course.status_lines)."""

    counts: QueueCounts  # from the database
    broker_depth: dict[str, int] | None  # messages waiting in Redis per queue; None when unreachable
    live: list[WorkerState]  # workers whose heartbeat is fresh, from the database
    failed: list[FailedRun]  # runs waiting for staff (`nngrade retry RUN`)

    @property
    def workers(self) -> list[str]:
        """Identities of the live workers."""
        return [w.id for w in self.live]


class GradingQueue:
    """The portal's handle on grading: enqueue uploads and regrades, and report the queue's state."""

    def __init__(self, settings: Settings, options: WorkerOptions | None = None, app: Any = None) -> None:
        if app is None:
            app = make_celery(settings, options)
        self.app = app
        self.settings = settings
        self._engine = make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self._engine)

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def enqueue_submission(self, submission_id: int) -> int | None:
        """Publish the submission's queued student run (created by gradebook.submissions.create_submission).

        Returns the run id, or None when the submission has no queued run (superseded or already graded).
        """
        with transaction(self.sessions) as session:
            run_id = session.scalar(
                select(GradingRun.id)
                .where(GradingRun.submission_id == submission_id, GradingRun.purpose == "submission",
                       GradingRun.status == "queued")
                .order_by(GradingRun.id.desc())
            )
        if run_id is None:
            return None
        publish_run(self.app, run_id, "submission")
        return run_id

    def enqueue_regrade(self, change_set_id: int) -> list[int]:
        """Publish every queued run of a change-set to the bulk queue; returns their ids."""
        with transaction(self.sessions) as session:
            run_ids = list(session.scalars(
                select(GradingRun.id)
                .where(GradingRun.change_set_id == change_set_id, GradingRun.status == "queued")
                .order_by(GradingRun.id)
            ))
        for run_id in run_ids:
            if not publish_run(self.app, run_id, "regrade"):
                break  # the broker is down; the sweep sends the rest
        return run_ids

    def start_regrade(self, scope: RegradeScope, author_id: int | None = None, reason: str = "") -> int:
        """Create a change-set for `scope` and enqueue it; returns the change-set id."""
        from gradebook.models import User

        with transaction(self.sessions) as session:
            author = session.get(User, author_id) if author_id is not None else None
            change_set, _ = create_change_set(session, scope, author, reason)
            change_set_id = change_set.id
        self.enqueue_regrade(change_set_id)
        return change_set_id

    def status(self) -> QueueStatus:
        """The queue from the database (counts, live workers by heartbeat, failed runs) and Redis's depth."""
        lease_s = self.app.nngrade_options.lease_s
        with transaction(self.sessions) as session:
            counts = queue_counts(session)
            live = live_workers(session, lease_s)
            failed = failed_runs(session)
        return QueueStatus(counts, broker_depths(self.app), live, failed)

    def retry(self, run_id: int) -> bool:
        """Put a failed (or delayed) run back in the queue now and publish it; False if it is neither."""
        with transaction(self.sessions) as session:
            purpose = retry_failed_run(session, run_id)
        if purpose is None:
            return False
        publish_run(self.app, run_id, purpose)
        return True
