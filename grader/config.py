"""An assignment's grading configuration: which questions, which seeds, which limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from grader.limits import Limits

# The first seed grades; the second is the single retry the assignment promises for unlucky starts.
DEFAULT_SEEDS: tuple[int, int] = (0, 1)


@dataclass(frozen=True)
class AssignmentConfig:
    questions: tuple[str, ...] = ("q1", "q2")
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    # Per-question limits; a question without an entry uses `default_limits`. Budgets are CPU seconds.
    limits: Mapping[str, Limits] = field(
        default_factory=lambda: {"q1": Limits.for_cpu_s(180.0), "q2": Limits.for_cpu_s(600.0)}
    )
    default_limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("an assignment needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")

    def limits_for(self, question: str) -> Limits:
        return self.limits.get(question, self.default_limits)

    def with_seed(self, seed: int) -> AssignmentConfig:
        """Exactly one attempt per question, with this seed and no retry: to reproduce one attempt."""
        return replace(self, seeds=(seed,))

    def with_wall_s(self, wall_s: float) -> AssignmentConfig:
        """Every question's wall-clock limit replaced by `wall_s` seconds (other limits kept)."""
        if not (wall_s > 0 and math.isfinite(wall_s)):
            raise ValueError(f"a time limit must be a positive number of seconds, got {wall_s}")
        return replace(
            self,
            limits={q: self.limits_for(q).with_wall_s(wall_s) for q in {*self.questions, *self.limits}},
            default_limits=self.default_limits.with_wall_s(wall_s),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "questions": list(self.questions),
            "seeds": list(self.seeds),
            "limits": {q: vars(self.limits_for(q)) for q in self.questions},
        }
