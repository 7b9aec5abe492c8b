"""Assignments: questions, seeds, limits, due dates and policies, and their grading configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gradebook.models import SCORE_POLICIES, Assignment
from grader.config import DEFAULT_SEEDS, AssignmentConfig
from grader.limits import Limits


class AssignmentError(ValueError):
    """An assignment definition that cannot be used; the message names the field."""


def create_assignment(
    session: Session,
    slug: str,
    title: str,
    due_at: datetime,
    *,
    questions: Sequence[str] = ("q1", "q2"),
    seeds: Sequence[int] = DEFAULT_SEEDS,
    limits: Mapping[str, Limits] | None = None,
    late_due_at: datetime | None = None,
    late_penalty_pct: float = 0.0,
    score_policy: str = "best",
    max_submissions: int | None = None,
) -> Assignment:
    """A new assignment and its grading rules: `questions` ("q1", "q2"), `seeds` (the first, then the retry's;
    docs/COURSE_KIT.md, "Seeds and the retry"), per-question `limits` (default: grader.config's), a late window with
    its penalty in percent, the best-or-latest policy and an upload cap.

    Raises AssignmentError naming the field: unknown policy, penalty outside 0-100, late due date before the due
    date, a slug already taken, bad seeds."""
    if score_policy not in SCORE_POLICIES:
        raise AssignmentError(f"score_policy must be one of {', '.join(SCORE_POLICIES)}, got {score_policy!r}")
    if not 0.0 <= late_penalty_pct <= 100.0:
        raise AssignmentError(f"late_penalty_pct must be between 0 and 100, got {late_penalty_pct}")
    if late_due_at is not None and late_due_at < due_at:
        raise AssignmentError("late_due_at must not be before due_at")
    if session.scalar(select(Assignment.id).where(Assignment.slug == slug)) is not None:
        raise AssignmentError(f"assignment {slug!r} already exists")
    default = AssignmentConfig()
    chosen = dict(default.limits) if limits is None else dict(limits)
    assignment = Assignment(
        slug=slug,
        title=title,
        questions=list(questions),
        seeds=list(seeds),
        limits={q: asdict(chosen.get(q, default.default_limits)) for q in questions},
        due_at=due_at,
        late_due_at=late_due_at,
        late_penalty_pct=late_penalty_pct,
        score_policy=score_policy,
        max_submissions=max_submissions,
    )
    AssignmentConfig(questions=tuple(questions), seeds=tuple(seeds))  # validates seeds
    session.add(assignment)
    session.flush()
    return assignment


def get_assignment(session: Session, slug: str) -> Assignment | None:
    """The assignment with this slug, or None."""
    return session.scalar(select(Assignment).where(Assignment.slug == slug))


def list_assignments(session: Session) -> list[Assignment]:
    """Every assignment, the soonest due first."""
    return list(session.scalars(select(Assignment).order_by(Assignment.due_at, Assignment.id)))


def is_open(assignment: Assignment, now: datetime) -> bool:
    """Whether uploads are still accepted at `now` (up to the late due date, or the due date without one)."""
    return now <= (assignment.late_due_at or assignment.due_at)


def grading_config(assignment: Assignment) -> AssignmentConfig:
    """The grader's configuration for the assignment's runs: its questions, seeds and per-question limits as stored
    (grader.config.AssignmentConfig; docs/COURSE_KIT.md, "Seeds and the retry")."""
    limits: dict[str, Limits] = {q: Limits.from_mapping(v) for q, v in (assignment.limits or {}).items()}
    return AssignmentConfig(
        questions=tuple(assignment.questions), seeds=tuple(int(s) for s in assignment.seeds), limits=limits
    )


def max_run_s(assignment: Assignment, slack: float = 1.5, overhead_s: float = 60.0) -> float:
    """The longest a healthy grading run of this assignment may take; longer means the worker is stuck."""
    config = grading_config(assignment)
    total = sum(config.limits_for(q).wall_s for q in config.questions) * len(config.seeds)
    return total * slack + overhead_s
