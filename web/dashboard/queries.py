"""What the staff pages read: a row per graded student, recent runs for the charts, queue health, the audit.

Functions take the request's session (web.db) and return the view records of web/services/models.py.
"""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, load_only, selectinload

from gradebook import policies, status
from gradebook.models import (
    Assignment,
    ChangeSet,
    GradingRun,
    Override,
    QuestionRecord,
    Submission,
    User,
    utcnow,
)
from gradebook.users import graded_students
from grader.messages import N_, message
from web.services.eta import Throughput, estimated_start_s
from web.services.models import AuditEntry, OverrideView, QueueHealth, RunSummary, StudentRow, UserView, user_view
from web.submissions.queries import max_points_of, override_view, pick_run

RECENT_WAITS = 200
WAIT_WINDOW = timedelta(hours=6)


def student(session: Session, user_id: int) -> UserView | None:
    """A graded student's account (no staff, no canary), or None."""
    row = session.scalar(select(User).where(User.id == user_id, graded_students()))
    return None if row is None else user_view(row)


def student_rows(session: Session, assignment: Assignment, search: str = "") -> list[StudentRow]:
    """One row per graded student whose username or name contains `search` (any case), by username: counted
    points, uploads, last activity, latest status, flags. Reads only the columns these need: no reports,
    no stored question results beyond their points."""
    found = select(User).where(graded_students()).options(
        load_only(User.id, User.username, User.name, User.role, User.must_change_password, User.locale))
    if search:
        found = found.where(or_(User.username.icontains(search, autoescape=True),
                                User.name.icontains(search, autoescape=True)))
    students = session.scalars(found.order_by(User.username)).all()
    ids = [u.id for u in students]
    of_assignment = select(Submission).where(Submission.assignment_id == assignment.id)
    if search:
        of_assignment = of_assignment.where(Submission.user_id.in_(ids))
    subs = session.scalars(
        of_assignment.options(
                 load_only(Submission.id, Submission.user_id, Submission.assignment_id, Submission.uploaded_at,
                           Submission.late, Submission.flag_reason),
                 selectinload(Submission.runs).options(
                     load_only(GradingRun.id, GradingRun.submission_id, GradingRun.purpose, GradingRun.status,
                               GradingRun.current, GradingRun.created_at, GradingRun.finished_at,
                               GradingRun.max_points, GradingRun.total_points))
                 .selectinload(GradingRun.questions).options(
                     load_only(QuestionRecord.id, QuestionRecord.run_id, QuestionRecord.question,
                               QuestionRecord.points)),
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
            flagged=any(s.flag_reason for s in mine),
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


def queue_health(session: Session, workers: int | None, pace: Throughput | None = None) -> QueueHealth:
    """Waiting, running, delayed and failed runs, the oldest wait, the median wait of recent runs, and with
    `pace` when the next and the last queued student submission likely start grading (seconds)."""
    counts = status.queue_counts(session)
    waits = [
        (started - created).total_seconds()
        for started, created in session.execute(
            select(GradingRun.started_at, GradingRun.created_at)
            .where(GradingRun.started_at.is_not(None), GradingRun.created_at > utcnow() - WAIT_WINDOW)
            .order_by(GradingRun.id.desc()).limit(RECENT_WAITS))
        if started is not None
    ]
    waiting_students = counts.queued_student + counts.delayed
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
        typical_run_s=pace.typical_run_s if pace else None,
        next_start_s=estimated_start_s(0, pace) if pace and waiting_students else None,
        last_start_s=estimated_start_s(waiting_students - 1, pace) if pace and waiting_students else None,
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
        entries.append(AuditEntry(o.created_at, o.author.username,
                                  message(N_("override revoked")) if o.revoked else message(N_("override")),
                                  f"{o.submission.user.username} #{o.submission_id} {o.question} → "
                                  f"{o.points}: {o.reason}"))
    names: dict[int, str] = {uid: name for uid, name in session.execute(select(User.id, User.username))}
    for c in session.scalars(select(ChangeSet).order_by(ChangeSet.id.desc()).limit(limit)):
        entries.append(AuditEntry(c.created_at, names.get(c.created_by_id or -1, "system"),
                                  message(N_("regrade ({status})"), status=c.status),
                                  f"{_scope_text(c.scope)}: {c.reason}"))
    entries.sort(key=lambda e: e.created_at, reverse=True)
    return entries[:limit]


def _scope_text(scope: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items() if v not in (None, False)) or "everything"
