"""Grading runs with exactly-once results: claims with leases, idempotent per-question writes, one finish.

A worker claims a run with a fresh token; every later write is conditional on that token, so a second
delivery of the same task (a killed worker, an expired visibility timeout) either takes over a dead
claim or does nothing. Question results are unique per run and stored as soon as they are known.
What happens to a run that goes wrong on our side is gradebook/retries.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gradebook.db import rows_matched
from gradebook.flags import flag_submission
from gradebook.models import (
    AttemptRecord,
    ChangeSet,
    GradingRun,
    QuestionRecord,
    utcnow,
)
from grader.report import Environment, QuestionResult, Report

ClaimState = Literal["claimed", "finished", "busy", "missing"]


@dataclass(frozen=True)
class Claim:
    """The answer to a worker's claim: `claimed` (grade it under `token`), `finished` (already done), `busy` (another
    worker holds a live lease) or `missing` (no such run)."""

    state: ClaimState
    run_id: int
    token: str
    submission_id: int | None = None
    purpose: str | None = None


def claim_run(
    session: Session, run_id: int, token: str, lease_s: float, now: datetime | None = None,
    worker_id: str | None = None,
) -> Claim:
    """Take the run for this delivery. `finished`: nothing to do; `busy`: a live worker holds it."""
    now = now or utcnow()
    stale = now - timedelta(seconds=lease_s)
    result = session.execute(
        update(GradingRun)
        .where(
            GradingRun.id == run_id,
            or_(
                GradingRun.status.in_(("queued", "delayed")),
                and_(GradingRun.status == "running",
                     or_(GradingRun.heartbeat_at.is_(None), GradingRun.heartbeat_at < stale)),
            ),
        )
        .values(
            status="running",
            claim_token=token,
            heartbeat_at=now,
            started_at=func.coalesce(GradingRun.started_at, now),
            deliveries=GradingRun.deliveries + 1,
            retry_at=None,
            worker_id=worker_id,
        )
        .execution_options(synchronize_session=False)
    )
    row = session.execute(
        select(GradingRun.status, GradingRun.submission_id, GradingRun.purpose).where(GradingRun.id == run_id)
    ).first()
    if row is None:
        return Claim("missing", run_id, token)
    if rows_matched(result) == 1:
        return Claim("claimed", run_id, token, row.submission_id, row.purpose)
    state: ClaimState = "busy" if row.status == "running" else "finished"
    return Claim(state, run_id, token, row.submission_id, row.purpose)


def heartbeat(session: Session, run_id: int, token: str, now: datetime | None = None) -> bool:
    """Extend the claim; False means another delivery took the run over and this one must stop writing."""
    result = session.execute(
        update(GradingRun)
        .where(GradingRun.id == run_id, GradingRun.claim_token == token, GradingRun.status == "running")
        .values(heartbeat_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result) == 1


def recorded_questions(session: Session, run_id: int) -> dict[str, QuestionResult]:
    """Questions already stored for this run (by an earlier delivery), which a new delivery skips."""
    rows = session.scalars(select(QuestionRecord).where(QuestionRecord.run_id == run_id))
    return {r.question: QuestionResult.from_dict(r.result) for r in rows}


def record_question(
    session: Session, run_id: int, token: str, result: QuestionResult, environment: Environment | None,
    now: datetime | None = None,
) -> bool:
    """Store one question's result under the claim. Idempotent: a question is stored once per run.

    Returns False when the claim was lost (the write is skipped). Commit after calling, so the result
    survives a kill of the worker.
    """
    if result.outcome == "infrastructure_error":
        raise ValueError("an infrastructure error is not a grade; retry the run instead of recording it")
    now = now or utcnow()
    if not heartbeat(session, run_id, token, now):
        return False
    exists = session.scalar(
        select(QuestionRecord.id).where(QuestionRecord.run_id == run_id, QuestionRecord.question == result.question)
    )
    if exists is not None:
        return True
    data = asdict(result)
    record = QuestionRecord(
        run_id=run_id, question=result.question, title=result.title, outcome=result.outcome,
        points=result.points, max_points=result.max_points, metric_name=result.metric_name,
        metric_value=result.metric_value, recorded_at=now, result=data,
    )
    for number, attempt in enumerate(result.attempts):
        record.attempts.append(AttemptRecord(
            number=number, seed=attempt.seed, outcome=attempt.outcome, points=attempt.points,
            metric_value=attempt.metric_value, wall_s=attempt.wall_s, cpu_s=attempt.cpu_s,
            peak_memory_mb=attempt.peak_memory_mb,
            image_digest=environment.image_digest if environment else None,
            kit_version=environment.kit_version if environment else None,
            numpy_version=environment.numpy_version if environment else None,
            log_excerpt=attempt.log_excerpt[-8000:], finished_at=now,
        ))
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        # Another delivery stored this question between our check and insert: keep the first.
        return True
    return True


def finish_run(session: Session, run_id: int, token: str, report: Report, now: datetime | None = None) -> bool:
    """Record the final result once. Only the claim holder succeeds; a student run becomes current. A report that
    asks for staff review (Report.flag_reason) flags the submission (gradebook.flags)."""
    if not report.gradable:
        raise ValueError("a report decided by an infrastructure fault is not a grade; use mark_delayed")
    now = now or utcnow()
    env = report.environment
    result = session.execute(
        update(GradingRun)
        .where(GradingRun.id == run_id, GradingRun.claim_token == token, GradingRun.status == "running")
        .values(
            status="done", claim_token=None, finished_at=now, heartbeat_at=now, delay_reason=None,
            total_points=report.total_points, max_points=report.max_points, wall_s=report.wall_s,
            runner=env.runner, image_digest=env.image_digest, kit_version=env.kit_version,
            numpy_version=env.numpy_version, python_version=env.python_version, report=report.to_dict(),
        )
        .execution_options(synchronize_session=False)
    )
    if rows_matched(result) != 1:
        return False
    run = session.get(GradingRun, run_id, populate_existing=True)
    assert run is not None  # the update above just matched it
    if run.purpose == "submission":
        make_current(session, run)
    elif run.change_set_id is not None:
        _maybe_ready(session, run.change_set_id)
    # A regrade's evidence counts too: the flag is about the file, and it never changes points.
    reason = report.flag_reason
    if reason is not None:
        flag_submission(session, run.submission_id, reason)
    return True


def make_current(session: Session, run: GradingRun) -> None:
    """Make `run` the one that counts for its submission, and no other."""
    session.execute(
        update(GradingRun)
        .where(GradingRun.submission_id == run.submission_id, GradingRun.id != run.id)
        .values(current=False)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(GradingRun).where(GradingRun.id == run.id).values(current=True)
        .execution_options(synchronize_session=False)
    )


def _maybe_ready(session: Session, change_set_id: int) -> None:
    pending = session.scalar(
        select(func.count()).select_from(GradingRun).where(
            GradingRun.change_set_id == change_set_id, GradingRun.status.in_(("queued", "running", "delayed"))
        )
    )
    if not pending:
        session.execute(
            update(ChangeSet).where(ChangeSet.id == change_set_id, ChangeSet.status == "grading")
            .values(status="ready").execution_options(synchronize_session=False)
        )
