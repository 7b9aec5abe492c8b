"""Flags that ask staff to review a submission: set when a grading run's report says why (grader.integrity).

A flag never changes points and no machine clears it; staff decide (an override, if the work was not the
student's). Reading the flags is for staff pages only (web/dashboard, the staff view of a submission).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gradebook.models import Submission

MAX_REASON_CHARS = 4000


def flag_submission(session: Session, submission_id: int, reason: str) -> bool:
    """Record why the submission needs a human look, unless it already carries a reason: the first stays, and
    every run's evidence stays in its report. Returns True when this call set the flag."""
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.flag_reason.is_(None))
        .values(flag_reason=reason[:MAX_REASON_CHARS])
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def flag_reason(session: Session, submission_id: int) -> str | None:
    """Why the submission is flagged, or None. For staff only."""
    reason: str | None = session.scalar(select(Submission.flag_reason).where(Submission.id == submission_id))
    return reason


def flagged_among(session: Session, submission_ids: list[int]) -> set[int]:
    """Which of these submissions are flagged. For staff only."""
    if not submission_ids:
        return set()
    return set(session.scalars(select(Submission.id).where(Submission.id.in_(submission_ids),
                                                           Submission.flag_reason.is_not(None))))
