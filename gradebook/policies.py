"""Scoring policies: lateness (due date, late due date, percentage penalty) and best-or-latest selection.

The functions read submissions, runs and overrides through the small protocols below: ORM rows fit them,
and so do the plain records a page builds from a few columns when it scores hundreds of students at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from gradebook.models import Assignment, GradingRun, Submission


class QuestionPointsLike(Protocol):
    """A graded question's points as the policies read them (a QuestionRecord row or a plain row)."""

    @property
    def question(self) -> str: ...

    @property
    def points(self) -> int: ...


class RunLike(Protocol):
    """A grading run as the policies read it: whether it counts, its status, maximum and questions."""

    @property
    def current(self) -> bool: ...

    @property
    def status(self) -> str: ...

    @property
    def max_points(self) -> int | None: ...

    @property
    def questions(self) -> Sequence[QuestionPointsLike]: ...


class OverrideLike(Protocol):
    """An override as the policies read it: the newest one not revoked counts."""

    @property
    def id(self) -> int: ...

    @property
    def question(self) -> str: ...

    @property
    def points(self) -> int: ...

    @property
    def revoked(self) -> bool: ...


class SubmissionLike(Protocol):
    """A submission as the policies read it: ORM rows or the dashboard's plain rows both fit."""

    @property
    def id(self) -> int: ...

    @property
    def late(self) -> bool: ...

    @property
    def uploaded_at(self) -> datetime: ...

    @property
    def runs(self) -> Sequence[RunLike]: ...

    @property
    def overrides(self) -> Sequence[OverrideLike]: ...


S = TypeVar("S", bound=SubmissionLike)
OverrideT = TypeVar("OverrideT", bound=OverrideLike)


def is_late(assignment: Assignment, uploaded_at: datetime) -> bool:
    """Whether an upload at `uploaded_at` is after the assignment's due date."""
    return uploaded_at > assignment.due_at


def late_factor(assignment: Assignment, submission: SubmissionLike) -> float:
    """The share of points a submission keeps: 1 on time, 1 - penalty until the late due date, else 0."""
    if not submission.late:
        return 1.0
    if assignment.late_due_at is not None and submission.uploaded_at > assignment.late_due_at:
        return 0.0
    return 1.0 - assignment.late_penalty_pct / 100.0


def current_run(submission: Submission) -> GradingRun | None:
    """The submission's counted run, or None."""
    for run in submission.runs:
        if run.current:
            return run
    return None


def _counted_run(submission: SubmissionLike) -> RunLike | None:
    return next((run for run in submission.runs if run.current), None)


def latest_override(overrides: Iterable[OverrideT], question: str) -> OverrideT | None:
    """The newest override in force for `question`, or None."""
    chosen: OverrideT | None = None
    for o in overrides:
        if o.question == question and not o.revoked and (chosen is None or o.id > chosen.id):
            chosen = o
    return chosen


@dataclass(frozen=True)
class ScoredSubmission(Generic[S]):
    """A submission's counted score: raw points per question after overrides, and the late factor (0 to 1) applied by
    `points` and `total`."""

    submission: S
    run: RunLike
    raw_points: dict[str, int]  # per question, after overrides, before the late penalty
    max_points: int
    factor: float

    @property
    def points(self) -> dict[str, float]:
        """Points per question after the late penalty (fractions when a penalty applies)."""
        return {q: p * self.factor for q, p in self.raw_points.items()}

    @property
    def total(self) -> float:
        """The total after the late penalty."""
        return sum(self.raw_points.values()) * self.factor


def score_submission(assignment: Assignment, submission: S) -> ScoredSubmission[S] | None:
    """The submission's counted score, or None while it has no graded run."""
    run = _counted_run(submission)
    if run is None or run.status != "done":
        return None
    raw = {q.question: q.points for q in run.questions}
    for question in assignment.questions:
        override = latest_override(submission.overrides, question)
        if override is not None:
            raw[question] = override.points
        raw.setdefault(question, 0)
    return ScoredSubmission(submission, run, raw, run.max_points or 0, late_factor(assignment, submission))


def final_submission(assignment: Assignment, submissions: Sequence[S]) -> ScoredSubmission[S] | None:
    """The submission that counts under the assignment's policy: best total (latest wins ties) or latest."""
    scored = [s for s in (score_submission(assignment, sub) for sub in submissions) if s is not None]
    if not scored:
        return None
    by_time = sorted(scored, key=lambda s: (s.submission.uploaded_at, s.submission.id))
    if assignment.score_policy == "latest":
        return by_time[-1]
    return max(reversed(by_time), key=lambda s: s.total)
