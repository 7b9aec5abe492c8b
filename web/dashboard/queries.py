"""What the staff pages read: a row per graded student, recent runs for the charts, queue health, the audit.

Functions take the request's session (web.db) and return the view records of web/services/models.py.
"""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from gradebook import policies, status
from gradebook.models import Assignment, ChangeSet, GradingRun, Override, Submission, User, utcnow
from gradebook.users import graded_students
from web.services.models import AuditEntry, OverrideView, QueueHealth, RunSummary, StudentRow, UserView, user_view
from web.submissions.queries import max_points_of, override_view, pick_run

RECENT_WAITS = 200
WAIT_WINDOW = timedelta(hours=6)


def student(session: Session, user_id: int) -> UserView | None:
    """A graded student's account (no staff, no canary), or None."""
    row = session.scalar(select(User).where(User.id == user_id, graded_students()))
    return None if row is None else user_view(row)


def student_rows(session: Session, assignment: Assignment) -> list[StudentRow]:
    """One row per graded student, by username: counted points, uploads, last activity, latest status."""
    students = session.scalars(select(User).where(graded_students()).order_by(User.username)).all()
    subs = session.scalars(
        select(Submission).where(Submission.assignment_id == assignment.id)
        .options(selectinload(Submission.runs).selectinload(GradingRun.questions),
                 selectinload(Submission.overrides))).all()
    by_user: dict[int, list[Submission]] = {}
    for s in subs:
        by_user.setdefault(s.user_id, []).append(s)
    max_points = max_points_of(assignment)
    rows: list[StudentRow] = []
    for user in students:
        mine = sorted(by_user.get(user.id, []), key=lambda s: (s.uploaded_at, s.id))
        chosen = policies.final_submission(assignment, mine)
        latest = mine[-1] if mine else None
        activity = max((r.finished_at or r.created_at for s in mine for r in s.runs), default=None)
        if latest is not None:
            activity = max(activity or latest.uploaded_at, latest.uploaded_at)
        rows.append(StudentRow(
            user=user_view(user),
            points=None if chosen is None else round(chosen.total, 2),
            max_points=max_points,
            submissions=len(mine),
            last_activity=activity,
            status=pick_run(latest.runs)[0] if latest else "none",
            latest_submission_id=latest.id if latest else None,
            counted_submission_id=chosen.submission.id if chosen else None,
            overridden=bool(chosen and any(not o.revoked for o in chosen.submission.overrides)),
        ))
    return rows


def graded_runs(session: Session, assignment: Assignment, limit: int) -> list[RunSummary]:
    """The assignment's `limit` most recent counted runs, newest first, without their reports."""
    runs = session.scalars(
        select(GradingRun).join(Submission, Submission.id == GradingRun.submission_id)
        .where(GradingRun.current.is_(True), GradingRun.status == "done", Submission.assignment_id == assignment.id)
        .options(selectinload(GradingRun.questions)).order_by(GradingRun.id.desc()).limit(limit)).all()
    return [RunSummary(run_id=r.id, wall_s=r.wall_s,
                       questions=tuple((q.question, q.outcome, q.metric_value) for q in r.questions))
            for r in runs]


def queue_health(session: Session, workers: int | None) -> QueueHealth:
    """Waiting, running, delayed and failed runs, the oldest wait, and the median wait of recent runs
    (seconds)."""
    counts = status.queue_counts(session)
    waits = [
        (started - created).total_seconds()
        for started, created in session.execute(
            select(GradingRun.started_at, GradingRun.created_at)
            .where(GradingRun.started_at.is_not(None), GradingRun.created_at > utcnow() - WAIT_WINDOW)
            .order_by(GradingRun.id.desc()).limit(RECENT_WAITS))
        if started is not None
    ]
    return QueueHealth(
        depth=counts.queued_student + counts.queued_bulk + counts.delayed,
        running=counts.running,
        workers=workers,
        oldest_wait_s=counts.oldest_wait_s,
        median_wait_s=statistics.median(waits) if waits else None,
        delayed=counts.delayed,
        queued_regrades=counts.queued_bulk,
        failed=counts.failed,
        failed_runs=tuple((f.run_id, f.username, f.summary) for f in status.failed_runs(session, 10)),
    )


def overrides(session: Session) -> list[OverrideView]:
    """Every override in force, newest first."""
    rows = session.scalars(
        select(Override).where(Override.revoked.is_(False)).order_by(Override.id.desc())
        .options(selectinload(Override.submission).selectinload(Submission.user),
                 selectinload(Override.author))).all()
    return [override_view(session, o, o.submission) for o in rows]


def audit_log(session: Session, limit: int) -> list[AuditEntry]:
    """Overrides and regrades, newest first, at most `limit`."""
    entries: list[AuditEntry] = []
    for o in session.scalars(select(Override).order_by(Override.id.desc()).limit(limit)
                             .options(selectinload(Override.author),
                                      selectinload(Override.submission).selectinload(Submission.user))):
        entries.append(AuditEntry(o.created_at, o.author.username, "override revoked" if o.revoked else "override",
                                  f"{o.submission.user.username} #{o.submission_id} {o.question} → "
                                  f"{o.points}: {o.reason}"))
    names: dict[int, str] = {uid: name for uid, name in session.execute(select(User.id, User.username))}
    for c in session.scalars(select(ChangeSet).order_by(ChangeSet.id.desc()).limit(limit)):
        entries.append(AuditEntry(c.created_at, names.get(c.created_by_id or -1, "system"),
                                  f"regrade ({c.status})", f"{_scope_text(c.scope)}: {c.reason}"))
    entries.sort(key=lambda e: e.created_at, reverse=True)
    return entries[:limit]


def _scope_text(scope: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items() if v not in (None, False)) or "everything"
