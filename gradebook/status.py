"""What the database says about the queue: waiting, running, delayed, and the oldest wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gradebook.models import GradingRun, Submission, User, utcnow


@dataclass(frozen=True)
class QueueCounts:
    """The queue from the database: runs waiting (student uploads, regrades), running, delayed by our faults and failed,
    and the oldest wait in seconds."""

    queued_student: int
    queued_bulk: int
    running: int
    delayed: int
    oldest_wait_s: float | None  # the longest a queued or delayed run has waited since it was enqueued
    failed: int = 0  # runs that failed unexpectedly too often and wait for staff (`nngrade retry`)


@dataclass(frozen=True)
class FailedRun:
    """A run that failed unexpectedly too often: what staff need to look at it and retry it."""

    run_id: int
    submission_id: int
    username: str
    purpose: str
    failures: int
    failed_at: datetime | None
    failure: str  # the last traceback (or what happened to the worker)

    @property
    def summary(self) -> str:
        """The failure's last non-empty line: usually the exception."""
        lines = [line for line in self.failure.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else "unknown failure"


def queue_counts(session: Session, now: datetime | None = None) -> QueueCounts:
    """Count the runs by state (for `nngrade status` and the TA dashboard), the oldest wait measured to `now`."""
    now = now or utcnow()
    rows = session.execute(
        select(GradingRun.status, GradingRun.purpose, func.count())
        .where(GradingRun.status.in_(("queued", "running", "delayed", "failed")))
        .group_by(GradingRun.status, GradingRun.purpose)
    ).all()
    counts: dict[tuple[str, str], int] = {(s, p): n for s, p, n in rows}
    oldest = session.scalar(
        select(func.min(GradingRun.created_at)).where(GradingRun.status.in_(("queued", "delayed")))
    )
    return QueueCounts(
        queued_student=counts.get(("queued", "submission"), 0),
        queued_bulk=counts.get(("queued", "regrade"), 0),
        running=sum(n for (s, _), n in counts.items() if s == "running"),
        delayed=sum(n for (s, _), n in counts.items() if s == "delayed"),
        oldest_wait_s=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        failed=sum(n for (s, _), n in counts.items() if s == "failed"),
    )


def failed_runs(session: Session, limit: int = 20) -> list[FailedRun]:
    """Failed runs, newest first, with the student's username and the last failure."""
    rows = session.execute(
        select(GradingRun.id, GradingRun.submission_id, User.username, GradingRun.purpose, GradingRun.failures,
               GradingRun.finished_at, GradingRun.failure)
        .join(Submission, Submission.id == GradingRun.submission_id)
        .join(User, User.id == Submission.user_id)
        .where(GradingRun.status == "failed")
        .order_by(GradingRun.id.desc())
        .limit(limit)
    ).all()
    return [FailedRun(r.id, r.submission_id, r.username, r.purpose, r.failures, r.finished_at, r.failure or "")
            for r in rows]


def run_status_label(run: GradingRun) -> str:
    """What a student sees for a run."""
    return {
        "queued": "queued",
        "running": "grading",
        "delayed": "grading delayed",
        "done": "graded",
        "superseded": "replaced by a newer upload",
        "cancelled": "cancelled",
        "failed": "grading failed on our side (staff will retry it)",
    }.get(run.status, run.status)
