"""Every reference submission graded through the local runner, with its expected points and outcome."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.config import AssignmentConfig
from grader.grading import grade_question, grade_submission
from grader.limits import Limits
from grader.local_runner import LocalRunner

REFERENCE = Path(__file__).resolve().parent.parent / "reference_solutions"

# file: (points, outcome of the counted attempt, attempts made), all for q1.
BROKEN_Q1 = {
    "wrong_output_shape.py": (0, "failed_check", 1),
    "new_parameters_each_call.py": (0, "failed_check", 1),
    "hardcoded_loss.py": (2, "failed_check", 1),
    "no_training.py": (2, "below_threshold", 2),
    "diverging_learning_rate.py": (2, "diverged", 2),
    "infinite_loop.py": (2, "timeout", 2),
    "syntax_error.py": (0, "error", 1),
    "missing_module.py": (0, "error", 1),
    "missing_class.py": (0, "error", 1),
    "exception_in_train.py": (2, "error", 1),
    "too_much_memory.py": (0, "out_of_memory", 1),
    "prints_megabytes.py": (2, "bad_output", 1),
}
QUICK = AssignmentConfig(questions=("q1",), limits={"q1": Limits(wall_s=6.0, memory_mb=1024)})


def test_every_broken_submission_is_listed() -> None:
    assert sorted(p.name for p in (REFERENCE / "broken").glob("*.py")) == sorted(BROKEN_Q1)


@pytest.mark.parametrize("name", sorted(BROKEN_Q1))
def test_broken_submission_gets_its_expected_grade(name: str, local_runner: LocalRunner, data_dir: Path) -> None:
    points, outcome, attempts = BROKEN_Q1[name]
    result = grade_question(REFERENCE / "broken" / name, "q1", QUICK, local_runner, data_dir)
    assert (result.points, result.outcome, len(result.attempts)) == (points, outcome, attempts), result.counted.detail
    assert [a.seed for a in result.attempts] == list(QUICK.seeds[:attempts])
    # The docstring states the same expectation, so a reader of the file knows what it tests.
    doc = (REFERENCE / "broken" / name).read_text().split('"""')[1]
    assert f"q1 {outcome}, {points} points" in doc


def test_broken_submissions_explain_themselves(local_runner: LocalRunner, data_dir: Path) -> None:
    result = grade_question(REFERENCE / "broken" / "diverging_learning_rate.py", "q1", QUICK, local_runner, data_dir)
    assert any("learning rate" in hint for hint in result.hints)
    assert result.counted.error is not None and "models.py" in result.counted.error.traceback
    syntax = grade_question(REFERENCE / "broken" / "syntax_error.py", "q1", QUICK, local_runner, data_dir)
    assert syntax.counted.error is not None and "line 7" in syntax.counted.error.message
    flood = grade_question(REFERENCE / "broken" / "prints_megabytes.py", "q1", QUICK, local_runner, data_dir)
    assert "[..." in flood.counted.log_excerpt and len(flood.counted.log_excerpt) < 20_000


@pytest.mark.slow
@pytest.mark.mnist
def test_staff_solution_scores_full_marks_identically_twice(local_runner: LocalRunner, data_dir: Path) -> None:
    config = AssignmentConfig()
    first = grade_submission(REFERENCE / "staff" / "models.py", config, local_runner, data_dir)
    second = grade_submission(REFERENCE / "staff" / "models.py", config, local_runner, data_dir)
    assert (first.total_points, first.max_points) == (12, 12)
    for a, b in zip(first.questions, second.questions, strict=True):
        assert a.outcome == b.outcome == "passed"
        # Bit-for-bit: metrics and every prediction, not merely close.
        assert json.dumps(a.metric_value) == json.dumps(b.metric_value)
        assert a.counted.predictions == b.counted.predictions
        assert a.counted.epochs == b.counted.epochs
        assert a.counted.validation_accuracy == b.counted.validation_accuracy
    q2 = first.questions[1].counted
    assert q2.epochs is not None and q2.validation_accuracy and len(q2.predictions) == 5000
