"""Uploads: rate limits, lateness, one pending grading per student and assignment (newer supersedes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gradebook.db import rows_matched
from gradebook.models import Assignment, GradingRun, Submission, User, utcnow
from gradebook.policies import is_late
from gradebook.storage import store_bytes
from gradebook.users import is_staff
from grader.messages import N_, Message, message
from grader.source import size_in_units

DAY = timedelta(days=1)


@dataclass(frozen=True)
class UploadLimits:
    """A student's upload allowance: file size in bytes, seconds between uploads, uploads per rolling day."""

    max_bytes: int = 256 * 1024
    min_interval_s: int = 60
    per_day: int = 30  # in any rolling 24 hours


@dataclass(frozen=True)
class UploadDecision:
    """Whether an upload may happen now; when not, a sentence for the student and when it may."""

    allowed: bool
    reason: str = ""  # one sentence for the student when refused, in English
    next_allowed_at: datetime | None = None  # None when refused for good (closed, cap reached)
    message: Message | None = None  # the reason as a translatable template and its values


def refused(template: str, next_allowed_at: datetime | None = None, **params: int | float | str) -> UploadDecision:
    """A refusal whose reason is `template` filled with `params` (English text and translatable form)."""
    why = message(template, **params)
    return UploadDecision(False, why.text, next_allowed_at, why)


class UploadRejected(Exception):
    """create_submission refused: `decision` says why and when the next upload is allowed."""

    def __init__(self, decision: UploadDecision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


def check_upload(
    session: Session, user: User, assignment: Assignment, limits: UploadLimits, now: datetime | None = None
) -> UploadDecision:
    """Whether `user` may upload to `assignment` now and, if not, when they may."""
    now = now or utcnow()
    if assignment.late_due_at is not None and now > assignment.late_due_at:
        return refused(N_("The late due date has passed; uploads are closed."))
    if is_staff(user):
        return UploadDecision(True)
    mine = (Submission.user_id == user.id) & (Submission.assignment_id == assignment.id)
    if assignment.max_submissions is not None:
        count = session.scalar(select(func.count()).select_from(Submission).where(mine)) or 0
        if count >= assignment.max_submissions:
            return refused(N_("You have used all {count} submissions for this assignment."),
                           count=assignment.max_submissions)
    last = session.scalar(select(func.max(Submission.uploaded_at)).where(mine))
    if last is not None and limits.min_interval_s > 0:
        last = _aware(last)
        earliest = last + timedelta(seconds=limits.min_interval_s)
        if now < earliest:
            return refused(N_("Please wait {seconds} s between uploads."), earliest, seconds=limits.min_interval_s)
    if limits.per_day > 0:
        recent = session.scalars(
            select(Submission.uploaded_at).where(mine, Submission.uploaded_at > now - DAY)
            .order_by(Submission.uploaded_at)
        ).all()
        if len(recent) >= limits.per_day:
            # The window frees a slot when the oldest upload in it turns 24 hours old.
            earliest = _aware(recent[len(recent) - limits.per_day]) + DAY
            return refused(N_("You have made {count} uploads in the last 24 hours."), earliest, count=limits.per_day)
    return UploadDecision(True)


def create_submission(
    session: Session,
    user: User,
    assignment: Assignment,
    data: bytes,
    limits: UploadLimits,
    *,
    filename: str = "models.py",
    now: datetime | None = None,
) -> tuple[Submission, GradingRun]:
    """Store the file (in the database), record the submission and queue its grading run; the caller then
    enqueues the run.

    A queued (not yet started) run of an older upload by the same student for the same assignment is
    marked superseded, so one student holds at most one waiting slot in the queue.
    """
    if len(data) > limits.max_bytes:
        size = size_in_units(limits.max_bytes)
        raise UploadRejected(refused(N_("The file is larger than the limit of {limit:g} {unit}."),
                                     limit=size["limit"], unit=size["unit"]))
    if not data.strip():
        raise UploadRejected(refused(N_("The file is empty.")))
    # Concurrent uploads by one student queue here, so the limits below see each other's rows: the user's
    # row is locked until commit (PostgreSQL); SQLite's transactions already begin with the write lock.
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    now = now or utcnow()
    decision = check_upload(session, user, assignment, limits, now)
    if not decision.allowed:
        raise UploadRejected(decision)
    digest = store_bytes(session, data)
    submission = Submission(
        user_id=user.id,
        assignment_id=assignment.id,
        sha256=digest,
        filename=filename,
        size_bytes=len(data),
        uploaded_at=now,
        late=is_late(assignment, now),
    )
    session.add(submission)
    session.flush()
    supersede_pending(session, user.id, assignment.id, keep_submission_id=submission.id)
    run = GradingRun(submission_id=submission.id, purpose="submission", status="queued", enqueued_at=now,
                     created_at=now)
    session.add(run)
    session.flush()
    return submission, run


def supersede_pending(session: Session, user_id: int, assignment_id: int, keep_submission_id: int) -> int:
    """Mark waiting student runs of the user's other uploads for this assignment superseded."""
    older = select(Submission.id).where(
        Submission.user_id == user_id,
        Submission.assignment_id == assignment_id,
        Submission.id != keep_submission_id,
    )
    result = session.execute(
        update(GradingRun)
        .where(
            GradingRun.submission_id.in_(older),
            GradingRun.purpose == "submission",
            GradingRun.status.in_(("queued", "delayed")),
        )
        .values(status="superseded", finished_at=utcnow(), claim_token=None)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result)


def submissions_of(session: Session, user_id: int, assignment_id: int) -> list[Submission]:
    """The user's submissions to the assignment, newest first."""
    return list(session.scalars(
        select(Submission)
        .where(Submission.user_id == user_id, Submission.assignment_id == assignment_id)
        .order_by(Submission.uploaded_at.desc(), Submission.id.desc())
    ))


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
