"""Manual score overrides: who changed which question's points, when and why; never deleted, only revoked."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gradebook.models import Override, Submission, User, utcnow
from gradebook.users import is_staff
from grader.questions import get_question


class OverrideError(ValueError):
    """An override refused: not staff, a question the assignment lacks, no reason, or points outside 0 to the
    question's maximum."""


def add_override(
    session: Session, submission: Submission, question: str, points: int, author: User, reason: str
) -> Override:
    """Set `question`'s points of `submission` by hand, with a reason, audited under `author` (staff only); the newest
    override in force counts (gradebook.policies). Raises OverrideError."""
    if not is_staff(author):
        raise OverrideError("only TAs and instructors may override scores")
    if question not in submission.assignment.questions:
        raise OverrideError(f"{question!r} is not a question of {submission.assignment.slug}")
    if not reason.strip():
        raise OverrideError("an override needs a reason")
    if points < 0:
        raise OverrideError("points must not be negative")
    maximum = get_question(question).max_points
    if points > maximum:
        raise OverrideError(f"{question} is worth at most {maximum} points")
    override = Override(submission_id=submission.id, question=question, points=points, author_id=author.id,
                        reason=reason.strip(), created_at=utcnow())
    session.add(override)
    session.flush()
    session.refresh(submission, ["overrides"])
    return override


def revoke_override(session: Session, override: Override, author: User) -> None:
    """Withdraw an override (kept for the audit); the points fall back to the graded ones or an older override. Raises
    OverrideError unless `author` is staff."""
    if not is_staff(author):
        raise OverrideError("only TAs and instructors may revoke overrides")
    override.revoked = True
    session.flush()
