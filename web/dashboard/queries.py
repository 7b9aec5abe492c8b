"""What the staff pages read: a row per graded student, recent runs for the charts, queue health, the audit.

Functions take the request's session (web.db) and return the view records of web/services/models.py.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session, selectinload

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
from grader.messages import N_, Message, message
from grader.questions import get_question
from web.services.eta import Throughput, estimated_start_s
from web.services.models import AuditEntry, OverrideView, QueueHealth, RunSummary, StudentRow, UserView, user_view
from web.submissions.queries import max_points_of, numbers_of, override_view, pick_run

RECENT_WAITS = 200
WAIT_WINDOW = timedelta(hours=6)


def student(session: Session, user_id: int) -> UserView | None:
    """A graded student's account (no staff, no canary), or None."""
    row = session.scalar(select(User).where(User.id == user_id, graded_students()))
    return None if row is None else user_view(row)


@dataclass(slots=True)
class _Points:
    question: str
    points: int


@dataclass(slots=True)
class _Run:
    id: int
    purpose: str
    status: str
    current: bool
    created_at: datetime
    finished_at: datetime | None
    max_points: int | None
    questions: list[_Points] = field(default_factory=list)


@dataclass(slots=True)
class _Override:
    id: int
    question: str
    points: int
    revoked: bool


@dataclass(slots=True)
class _Submission:
    id: int
    user_id: int
    uploaded_at: datetime
    late: bool
    flagged: bool
    runs: list[_Run] = field(default_factory=list)
    overrides: list[_Override] = field(default_factory=list)


@cache
def _row_statements() -> tuple[Any, Any, Any, Any, Any]:
    """The five statements behind student_rows, built once (building them costs more than running them):
    graded students; the assignment's submissions, their runs, the counted runs' question points, and their
    overrides, each as plain columns."""
    ours = select(Submission.id).where(Submission.assignment_id == bindparam("assignment_id")).scalar_subquery()
    return (
        select(User.id, User.username, User.name, User.locale).where(graded_students()).order_by(User.username),
        select(Submission.id, Submission.user_id, Submission.uploaded_at, Submission.late, Submission.flag_reason)
        .where(Submission.assignment_id == bindparam("assignment_id")),
        select(GradingRun.id, GradingRun.submission_id, GradingRun.purpose, GradingRun.status, GradingRun.current,
               GradingRun.created_at, GradingRun.finished_at, GradingRun.max_points)
        .where(GradingRun.submission_id.in_(ours)).order_by(GradingRun.id),
        # Question points of counted runs only: nothing else is scored.
        select(QuestionRecord.run_id, QuestionRecord.question, QuestionRecord.points)
        .join(GradingRun, GradingRun.id == QuestionRecord.run_id)
        .where(GradingRun.submission_id.in_(ours), GradingRun.current.is_(True)),
        select(Override.id, Override.submission_id, Override.question, Override.points, Override.revoked)
        .where(Override.submission_id.in_(ours)).order_by(Override.id),
    )


def matching_students(session: Session, search: str) -> set[int]:
    """Ids of the graded students whose username or name contains `search`, in any case (LIKE wildcards in
    `search` are literal)."""
    return set(session.scalars(select(User.id).where(graded_students(), or_(
        User.username.icontains(search, autoescape=True), User.name.icontains(search, autoescape=True)))))


def student_rows(session: Session, assignment: Assignment) -> list[StudentRow]:
    """One row per graded student, by username: counted points (gradebook.policies), uploads, last activity,
    latest status, flags.

    Hundreds of students with several uploads each: the rows are read as plain columns in five statements
    (no ORM objects, no reports) and scored by the same policy functions as everywhere else.
    """
    users_sql, subs_sql, runs_sql, points_sql, overrides_sql = _row_statements()
    which = {"assignment_id": assignment.id}
    students = session.execute(users_sql).all()
    subs: dict[int, _Submission] = {
        row.id: _Submission(row.id, row.user_id, row.uploaded_at, row.late, bool(row.flag_reason))
        for row in session.execute(subs_sql, which)}
    runs: dict[int, _Run] = {}
    for row in session.execute(runs_sql, which):
        run = _Run(row.id, row.purpose, row.status, row.current, row.created_at, row.finished_at, row.max_points)
        runs[row.id] = run
        subs[row.submission_id].runs.append(run)
    for run_id, question, points in session.execute(points_sql, which):
        runs[run_id].questions.append(_Points(question, points))
    for o in session.execute(overrides_sql, which):
        subs[o.submission_id].overrides.append(_Override(o.id, o.question, o.points, o.revoked))
    by_user: dict[int, list[_Submission]] = {}
    for sub in subs.values():
        by_user.setdefault(sub.user_id, []).append(sub)
    max_points = max_points_of(assignment)
    rows: list[StudentRow] = []
    for user in students:
        mine = sorted(by_user.get(user.id, []), key=lambda s: (s.uploaded_at, s.id))
        chosen = policies.final_submission(assignment, mine)
        latest = mine[-1] if mine else None
        # The student's activity: uploads and their grading, never a staff regrade.
        activity = max((r.finished_at or r.created_at for s in mine for r in s.runs if r.purpose == "submission"),
                       default=None)
        if latest is not None:
            activity = max(activity or latest.uploaded_at, latest.uploaded_at)
        rows.append(StudentRow(
            user=UserView(id=user.id, username=user.username, display_name=user.name or user.username,
                          role="student", locale=user.locale),
            points=None if chosen is None else round(chosen.total, 2),
            max_points=max_points,
            submissions=len(mine),
            last_activity=activity,
            status=_staff_state(latest),
            latest_submission_id=latest.id if latest else None,
            counted_submission_id=chosen.submission.id if chosen else None,
            overridden=bool(chosen and any(not o.revoked for o in chosen.submission.overrides)),
            flagged=any(s.flagged for s in mine),
        ))
    return rows


def _staff_state(latest: _Submission | None) -> str:
    """The latest submission's state for staff: as its student sees it, except that a run that failed on our
    side (the student sees it waiting) is "failed" here, for staff to retry."""
    if latest is None:
        return "none"
    own = [r for r in latest.runs if r.purpose == "submission"]
    if own and own[-1].status == "failed":
        return "failed"
    return pick_run(latest.runs)[0]


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


# A change-set's state as the audit names it; an automatic apply has its own words.
_REGRADE_ACTIONS = {"grading": N_("regrade being graded"), "ready": N_("regrade ready for review"),
                    "applied": N_("regrade applied"), "discarded": N_("regrade discarded")}


def audit_log(session: Session, limit: int) -> list[AuditEntry]:
    """Overrides and regrades, newest first, at most `limit`; submissions named by their student and the number
    the student sees."""
    overrides = session.scalars(select(Override).order_by(Override.id.desc()).limit(limit)
                                .options(selectinload(Override.author),
                                         selectinload(Override.submission).selectinload(Submission.user))).all()
    change_sets = session.scalars(select(ChangeSet).order_by(ChangeSet.id.desc()).limit(limit)).all()
    one_submission = {int(c.scope["submission_id"]) for c in change_sets
                      if isinstance(c.scope.get("submission_id"), int)}
    numbers = numbers_of(session, {o.submission_id for o in overrides} | one_submission)
    entries: list[AuditEntry] = []
    for o in overrides:
        points = message(N_("{question} set to {points} of {max} points."), question=o.question, points=o.points,
                         max=get_question(o.question).max_points)
        entries.append(AuditEntry(o.created_at, o.author.username,
                                  message(N_("override revoked")) if o.revoked else message(N_("override")),
                                  (points,), o.reason, o.submission_id,
                                  f"{o.submission.user.username} #{numbers.get(o.submission_id, '?')}"))
    names: dict[int, str] = {uid: name for uid, name in session.execute(select(User.id, User.username))}
    for c in change_sets:
        author = None if c.created_by_id is None else names.get(c.created_by_id)
        if c.auto_applied:
            action = message(N_("regrade applied automatically"))
        elif c.status in _REGRADE_ACTIONS:
            action = message(_REGRADE_ACTIONS[c.status])
        else:
            action = message(N_("regrade ({status})"), status=c.status)
        submission_id = c.scope.get("submission_id")
        detail = () if isinstance(submission_id, int) else _scope_sentences(c.scope)
        if c.auto_applied:
            detail = (*detail, message(N_("No score changed, so it was applied without review.")))
        label = f"{c.scope.get('student', '')} #{numbers.get(submission_id, '?')}" \
            if isinstance(submission_id, int) else ""
        entries.append(AuditEntry(c.created_at, author, action, detail, c.reason,
                                  submission_id if isinstance(submission_id, int) else None, label))
    entries.sort(key=lambda e: e.created_at, reverse=True)
    return entries[:limit]


def _scope_sentences(scope: dict[str, Any]) -> tuple[Message, ...]:
    """Which submissions a regrade covered, as sentences (RegradeScope.to_dict's keys)."""
    assignment, student = scope.get("assignment"), scope.get("student")
    if assignment and student:
        which = message(N_("Submissions of {student} to {assignment}."), student=student, assignment=assignment)
    elif assignment:
        which = message(N_("Every student's submissions to {assignment}."), assignment=assignment)
    elif student:
        which = message(N_("Submissions of {student} to every assignment."), student=student)
    else:
        which = message(N_("Every submission of every assignment."))
    if scope.get("only_failed"):
        return which, message(N_("Only those below full marks."))
    return (which,)
