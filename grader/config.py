"""An assignment's grading configuration: which questions, which seeds, which limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from grader.limits import Limits, wall_backstop_s

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

    def with_time_limits(self, cpu_s: float | None = None, wall_s: float | None = None) -> AssignmentConfig:
        """Every question's CPU-time budget set to `cpu_s` and its wall-clock backstop to `wall_s` (seconds).

        Either may be None to keep each question's own; a new budget without a backstop gets the backstop an
        assignment's budget gets (`wall_backstop_s`). ValueError for a value that is not a positive number.
        """
        for name, value in (("time limit", cpu_s), ("wall-clock limit", wall_s)):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"a {name} must be a positive number of seconds, got {value}")

        def limited(limits: Limits) -> Limits:
            backstop = wall_s if wall_s is not None else wall_backstop_s(cpu_s) if cpu_s is not None else limits.wall_s
            return replace(limits, cpu_s=limits.cpu_s if cpu_s is None else cpu_s, wall_s=backstop)

        return replace(
            self,
            limits={q: limited(self.limits_for(q)) for q in {*self.questions, *self.limits}},
            default_limits=limited(self.default_limits),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "questions": list(self.questions),
            "seeds": list(self.seeds),
            "limits": {q: vars(self.limits_for(q)) for q in self.questions},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AssignmentConfig:
        """The configuration `to_dict` wrote (the starter kit carries its assignment's this way)."""
        return cls(
            questions=tuple(str(q) for q in data["questions"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            limits={str(q): Limits.from_mapping(v) for q, v in data["limits"].items()},
        )
