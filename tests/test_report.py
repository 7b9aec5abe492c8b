"""The report: JSON round trip, the published schema, Gradescope's results.json, the retry rule."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from scripted import ScriptedRunner

from grader.config import AssignmentConfig
from grader.grading import grade_question, grade_submission
from grader.limits import Limits
from grader.report import Report, to_gradescope

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "grader" / "report.schema.json").read_text())


@pytest.mark.parametrize(
    ("losses", "attempts", "counted", "points", "outcome"),
    [
        ({0: 0.01, 1: 0.5}, 1, 0, 6, "passed"),
        ({0: 0.5, 1: 0.01}, 2, 1, 6, "passed"),
        ({0: 0.5, 1: 0.3}, 2, 1, 2, "below_threshold"),
        ({0: 0.3, 1: 0.5}, 2, 0, 2, "below_threshold"),
        ({0: "nan", 1: 0.01}, 2, 1, 6, "passed"),
        ({0: "nan", 1: "nan"}, 2, 0, 2, "diverged"),
    ],
)
def test_one_retry_with_the_second_seed_and_the_better_attempt_counts(
    losses: dict[int, float | str], attempts: int, counted: int, points: int, outcome: str, tmp_path: Path
) -> None:
    runner = ScriptedRunner(losses)
    config = AssignmentConfig(questions=("q1",), seeds=(0, 1))
    result = grade_question(tmp_path / "models.py", "q1", config, runner, tmp_path)
    assert [r.seed for r in runner.requests] == [0, 1][:attempts]
    assert (len(result.attempts), result.counted_attempt, result.points, result.outcome) == (
        attempts, counted, points, outcome)


def test_limits_come_from_the_configuration(tmp_path: Path) -> None:
    runner = ScriptedRunner({7: 0.01})
    config = AssignmentConfig(questions=("q1",), seeds=(7, 8), limits={"q1": Limits(wall_s=12.5)})
    grade_question(tmp_path / "models.py", "q1", config, runner, tmp_path)
    assert runner.requests[0].limits.wall_s == 12.5 and runner.requests[0].seed == 7


def test_report_round_trips_and_matches_the_published_schema(tmp_path: Path) -> None:
    submission = tmp_path / "models.py"
    submission.write_text("# a submission\n")
    report = grade_submission(submission, AssignmentConfig(questions=("q1",)), ScriptedRunner({0: 0.5, 1: 0.3}),
                              tmp_path)
    data = json.loads(json.dumps(report.to_dict()))
    jsonschema.validate(data, SCHEMA)
    assert data["schema"] == "nngrade.report/1" and data["total_points"] == 2
    assert Report.from_dict(data) == report
    with pytest.raises(ValueError, match="unsupported report schema"):
        Report.from_dict({**data, "schema": "nngrade.report/0"})


def test_gradescope_results_have_the_fields_gradescope_reads(tmp_path: Path) -> None:
    submission = tmp_path / "models.py"
    submission.write_text("# a submission\n")
    report = grade_submission(submission, AssignmentConfig(questions=("q1",)), ScriptedRunner({0: 0.01}), tmp_path)
    results = to_gradescope(report)
    assert results["score"] == 6 and results["visibility"] == "visible"
    assert {"score", "execution_time", "output", "stdout_visibility", "tests"} <= results.keys()
    (test,) = results["tests"]
    assert test["max_score"] == 6 and test["status"] == "passed" and test["name"].startswith("q1")
    assert len(json.dumps(results)) < 1024 * 1024
