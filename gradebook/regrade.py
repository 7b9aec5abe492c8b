"""Regrades as reviewed change-sets: new runs graded in the background, a before/after diff, then apply.

Applying makes each new run its submission's current run; the old runs stay, so nothing is lost and the
change can be audited (or reverted by applying the old runs again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from gradebook.models import Assignment, ChangeSet, GradingRun, Submission, User, utcnow
from gradebook.policies import current_run
from gradebook.runs import make_current


class RegradeError(ValueError):
    """A regrade refused: nothing in scope, an unknown assignment or student, a change-set already decided."""


@dataclass(frozen=True)
class RegradeScope:
    """Which submissions a regrade covers: an assignment, a student, and/or only those below full marks."""

    assignment: str | None = None  # slug; None: every assignment
    student: str | None = None  # username; None: every student
    only_failed: bool = False  # only submissions whose current grade is below full marks

    def to_dict(self) -> dict[str, object]:
        """The scope as stored with its change-set (JSON)."""
        return {"assignment": self.assignment, "student": self.student, "only_failed": self.only_failed}


def select_submissions(session: Session, scope: RegradeScope) -> list[Submission]:
    """Graded submissions in scope (those with a current run); pending ones are graded anyway."""
    query = (
        select(Submission)
        .join(GradingRun, (GradingRun.submission_id == Submission.id) & GradingRun.current.is_(True))
        .options(selectinload(Submission.runs))
        .order_by(Submission.id)
    )
    if scope.assignment is not None:
        query = query.join(Assignment, Assignment.id == Submission.assignment_id).where(
            Assignment.slug == scope.assignment)
    if scope.student is not None:
        query = query.join(User, User.id == Submission.user_id).where(User.username == scope.student)
    if scope.only_failed:
        query = query.where(GradingRun.total_points < GradingRun.max_points)
    return list(session.scalars(query).unique())


def create_change_set(
    session: Session, scope: RegradeScope, author: User | None = None, reason: str = "",
    now: datetime | None = None,
) -> tuple[ChangeSet, list[int]]:
    """A change-set with one queued regrade run per submission in scope; returns it and the run ids."""
    now = now or utcnow()
    submissions = select_submissions(session, scope)
    if not submissions:
        raise RegradeError("no graded submissions match this regrade")
    change_set = ChangeSet(created_by_id=author.id if author else None, created_at=now, scope=scope.to_dict(),
                           reason=reason, status="grading")
    session.add(change_set)
    session.flush()
    runs = [GradingRun(submission_id=s.id, purpose="regrade", change_set_id=change_set.id, status="queued",
                       enqueued_at=now, created_at=now) for s in submissions]
    session.add_all(runs)
    session.flush()
    return change_set, [r.id for r in runs]


def regrade_submission(
    session: Session, submission: Submission, author: User, reason: str, now: datetime | None = None,
) -> GradingRun:
    """A change-set of one queued regrade run for `submission`; staff apply it once graded. Returns the run."""
    now = now or utcnow()
    change_set = ChangeSet(created_by_id=author.id, created_at=now, reason=reason, status="grading",
                           scope={"submission_id": submission.id, "student": submission.user.username})
    session.add(change_set)
    session.flush()
    run = GradingRun(submission_id=submission.id, purpose="regrade", change_set_id=change_set.id,
                     status="queued", enqueued_at=now, created_at=now)
    session.add(run)
    session.flush()
    return run


@dataclass(frozen=True)
class Progress:
    """A change-set's runs: how many in all, decided (graded, cancelled or superseded), running and delayed."""

    total: int
    done: int
    running: int
    delayed: int

    @property
    def finished(self) -> bool:
        """Every run of the change-set is decided."""
        return self.done >= self.total


def progress(session: Session, change_set_id: int) -> Progress:
    """How far the change-set's grading is (`nngrade regrade` polls it)."""
    rows = dict(session.execute(
        select(GradingRun.status, func.count()).where(GradingRun.change_set_id == change_set_id)
        .group_by(GradingRun.status)
    ).all())
    total = sum(rows.values())
    done = rows.get("done", 0) + rows.get("cancelled", 0) + rows.get("superseded", 0)
    return Progress(total=total, done=done, running=rows.get("running", 0), delayed=rows.get("delayed", 0))


@dataclass(frozen=True)
class ScoreChange:
    """One changed score of a regrade: the question (or "total") before and after, None where there was none, and the
    new run that would count."""

    submission_id: int
    username: str
    assignment: str
    question: str  # a question id, or "total"
    before: int | None
    after: int | None
    new_run_id: int


def diff(session: Session, change_set_id: int) -> list[ScoreChange]:
    """Every score the change-set would change, per question and in total (finished runs only)."""
    runs = session.scalars(
        select(GradingRun)
        .where(GradingRun.change_set_id == change_set_id, GradingRun.status == "done")
        .options(selectinload(GradingRun.questions),
                 selectinload(GradingRun.submission).selectinload(Submission.runs).selectinload(GradingRun.questions),
                 selectinload(GradingRun.submission).selectinload(Submission.user),
                 selectinload(GradingRun.submission).selectinload(Submission.assignment))
        .order_by(GradingRun.id)
    ).all()
    changes: list[ScoreChange] = []
    for new in runs:
        sub = new.submission
        old = current_run(sub)
        if old is None or old.id == new.id:
            continue
        before = {q.question: q.points for q in old.questions}
        after = {q.question: q.points for q in new.questions}
        for question in sub.assignment.questions:
            if before.get(question) != after.get(question):
                changes.append(ScoreChange(sub.id, sub.user.username, sub.assignment.slug, question,
                                           before.get(question), after.get(question), new.id))
        if old.total_points != new.total_points:
            changes.append(ScoreChange(sub.id, sub.user.username, sub.assignment.slug, "total",
                                       old.total_points, new.total_points, new.id))
    return changes


def apply_change_set(session: Session, change_set_id: int, decided_by: User | None = None) -> int:
    """Make every finished run of the change-set current; old runs are kept. Returns runs applied."""
    change_set = session.get(ChangeSet, change_set_id)
    if change_set is None:
        raise RegradeError(f"no change-set {change_set_id}")
    if change_set.status not in ("grading", "ready"):
        raise RegradeError(f"change-set {change_set_id} is already {change_set.status}")
    runs = session.scalars(
        select(GradingRun).where(GradingRun.change_set_id == change_set_id, GradingRun.status == "done")
    ).all()
    for run in runs:
        make_current(session, run)
    # Runs still pending are cancelled: applying is a decision about what has been graded.
    _decide(session, change_set, "applied", decided_by)
    return len(runs)


def apply_if_unchanged(session: Session, change_set_id: int) -> int | None:
    """Apply the change-set without a reviewer when it changes no score (its runs become current, recorded as
    applied automatically) and return the runs applied; None, and nothing decided, when some score would
    change. Raises RegradeError as apply_change_set does."""
    if diff(session, change_set_id):
        return None
    applied = apply_change_set(session, change_set_id)
    change_set = session.get(ChangeSet, change_set_id)
    assert change_set is not None  # apply_change_set found it
    change_set.auto_applied = True
    session.flush()
    return applied


def discard_change_set(session: Session, change_set_id: int, decided_by: User | None = None) -> None:
    """Decide against the change-set: its runs never count and no grade changes. Raises RegradeError for an unknown or
    already applied change-set."""
    change_set = session.get(ChangeSet, change_set_id)
    if change_set is None:
        raise RegradeError(f"no change-set {change_set_id}")
    if change_set.status == "applied":
        raise RegradeError(f"change-set {change_set_id} is already applied")
    _decide(session, change_set, "discarded", decided_by)


def _decide(session: Session, change_set: ChangeSet, status: str, decided_by: User | None) -> None:
    """Record the decision and cancel the change-set's runs that have not been graded yet."""
    change_set.status = status
    change_set.decided_at = utcnow()
    change_set.decided_by_id = decided_by.id if decided_by else None
    session.execute(
        update(GradingRun)
        .where(GradingRun.change_set_id == change_set.id, GradingRun.status.in_(("queued", "delayed")))
        .values(status="cancelled", finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.flush()
