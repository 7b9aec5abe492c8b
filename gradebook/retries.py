"""Runs that went wrong on our side, and the sweep that finds them: never the student's result.

An infrastructure fault delays a run with backoff; an unexpected exception of ours is recorded with its
traceback and retried until the run has failed too often and waits for staff; a run whose worker went
silent, or that the broker lost, is put back on the queue. Every change is conditional on the run's state
(and claim), so two workers or two sweeps never both act on one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gradebook.db import rows_matched
from gradebook.models import GradingRun, utcnow


def mark_delayed(
    session: Session, run_id: int, token: str, reason: str, retry_at: datetime, now: datetime | None = None
) -> bool:
    """Give the run back after an infrastructure fault: shown as "grading delayed", retried at `retry_at`."""
    result = session.execute(
        update(GradingRun)
        .where(GradingRun.id == run_id, GradingRun.claim_token == token, GradingRun.status == "running")
        .values(status="delayed", claim_token=None, delay_reason=reason[:2000], retry_at=retry_at,
                infra_failures=GradingRun.infra_failures + 1, heartbeat_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result) == 1


def record_failure(
    session: Session, run_id: int, token: str, failure: str, *, max_failures: int, retry_at: datetime,
    now: datetime | None = None,
) -> str | None:
    """Record an unexpected failure of the claim holder (a traceback of ours, not the student's).

    The run waits until `retry_at` like a delayed one, or becomes "failed" once it has failed
    `max_failures` times, for staff to look at and retry. Returns the new status, or None when the claim
    was lost (nothing written).
    """
    now = now or utcnow()
    run = session.execute(
        select(GradingRun.failures).where(GradingRun.id == run_id, GradingRun.claim_token == token,
                                          GradingRun.status == "running")
    ).first()
    if run is None:
        return None
    failures = run.failures + 1
    status = "failed" if failures >= max_failures else "delayed"
    session.execute(
        update(GradingRun)
        .where(GradingRun.id == run_id, GradingRun.claim_token == token, GradingRun.status == "running")
        .values(status=status, claim_token=None, failures=failures, failure=failure[-20000:],
                retry_at=None if status == "failed" else retry_at, heartbeat_at=now,
                finished_at=now if status == "failed" else None,
                delay_reason="Grading failed unexpectedly; it will be retried." if status == "delayed" else None)
        .execution_options(synchronize_session=False)
    )
    return status


def retry_failed_run(session: Session, run_id: int, now: datetime | None = None) -> str | None:
    """Put a failed (or delayed) run back in the queue at once, its failure count reset; returns its purpose.

    None when the run is not failed or delayed (nothing changed). The caller publishes the run.
    """
    now = now or utcnow()
    result = session.execute(
        update(GradingRun)
        .where(GradingRun.id == run_id, GradingRun.status.in_(("failed", "delayed")))
        .values(status="queued", claim_token=None, failures=0, infra_failures=0, retry_at=None,
                delay_reason=None, finished_at=None, enqueued_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_matched(result) != 1:
        return None
    return session.scalar(select(GradingRun.purpose).where(GradingRun.id == run_id))


def backoff_s(infra_failures: int, base_s: float = 15.0, cap_s: float = 600.0) -> float:
    """Exponential backoff after the n-th infrastructure fault (n >= 1)."""
    return float(min(cap_s, base_s * 2 ** max(0, infra_failures - 1)))


@dataclass(frozen=True)
class Resend:
    """A run the sweep put back on the queue, its purpose (which queue) and why."""

    run_id: int
    purpose: str
    why: str


def runs_to_resend(
    session: Session,
    *,
    lease_s: float,
    queued_grace_s: float,
    in_broker: set[int] | None,
    max_failures: int = 5,
    now: datetime | None = None,
) -> list[Resend]:
    """Runs the database says are pending but no live worker or broker message is taking care of.

    - running with a heartbeat older than the lease (the worker died): put back to queued, counted as an
      unexpected failure; after `max_failures` the run is "failed" instead (a run that kills every
      worker that takes it must not loop forever);
    - delayed whose retry time has come: put back to queued;
    - queued for longer than `queued_grace_s` and absent from the broker (`in_broker`; None when the broker
      could not be inspected, in which case queued runs are left alone).
    Each change is conditional, so concurrent sweepers resend a run once.
    """
    now = now or utcnow()
    out: list[Resend] = []
    stale = now - timedelta(seconds=lease_s)
    dead = session.execute(
        select(GradingRun.id, GradingRun.purpose).where(
            GradingRun.status == "running",
            or_(GradingRun.heartbeat_at.is_(None), GradingRun.heartbeat_at < stale),
        )
    ).all()
    for run_id, purpose in dead:
        guard = GradingRun.heartbeat_at.is_(None) | (GradingRun.heartbeat_at < stale)
        if _lose(session, run_id, now, guard, max_failures):
            out.append(Resend(run_id, purpose, "worker lost"))
    due = session.execute(
        select(GradingRun.id, GradingRun.purpose).where(GradingRun.status == "delayed", GradingRun.retry_at <= now)
    ).all()
    for run_id, purpose in due:
        if _requeue(session, run_id, "delayed", now, GradingRun.retry_at <= now):
            out.append(Resend(run_id, purpose, "retry after infrastructure fault"))
    if in_broker is not None:
        old = now - timedelta(seconds=queued_grace_s)
        waiting = session.execute(
            select(GradingRun.id, GradingRun.purpose).where(GradingRun.status == "queued", GradingRun.enqueued_at < old)
        ).all()
        for run_id, purpose in waiting:
            if run_id in in_broker:
                continue
            if _requeue(session, run_id, "queued", now, GradingRun.enqueued_at < old):
                out.append(Resend(run_id, purpose, "missing from the broker"))
    return out


def _lose(session: Session, run_id: int, now: datetime, guard: object, max_failures: int) -> bool:
    """A running run whose worker went silent: requeue it, or fail it when that keeps happening."""
    row = session.execute(select(GradingRun.failures, GradingRun.worker_id).where(GradingRun.id == run_id)).first()
    if row is None:
        return False
    failures = row.failures + 1
    note = f"the worker grading this run ({row.worker_id or 'unknown'}) stopped before finishing it"
    if failures < max_failures:
        session.execute(
            update(GradingRun).where(GradingRun.id == run_id, GradingRun.status == "running", guard)  # type: ignore[arg-type]
            .values(failures=failures, failure=note).execution_options(synchronize_session=False)
        )
        return _requeue(session, run_id, "running", now, guard)
    session.execute(
        update(GradingRun).where(GradingRun.id == run_id, GradingRun.status == "running", guard)  # type: ignore[arg-type]
        .values(status="failed", claim_token=None, failures=failures, finished_at=now,
                failure=f"{note}, {failures} times in a row")
        .execution_options(synchronize_session=False)
    )
    return False


def _requeue(session: Session, run_id: int, status: str, now: datetime, guard: object) -> bool:
    result = session.execute(
        update(GradingRun)
        .where(GradingRun.id == run_id, GradingRun.status == status, guard)  # type: ignore[arg-type]
        .values(status="queued", claim_token=None, enqueued_at=now, retry_at=None)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result) == 1
