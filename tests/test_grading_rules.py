"""The grading rules, pure and fast: which misses earn the retry, which attempt counts, the one loop's hooks,
an import charged once, and q1 scored on the rows as train() left them."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from scripted import ScriptedRunner, q1_evaluation

from grader.config import AssignmentConfig
from grader.grading import grade_question, grade_submission
from grader.questions import CheckFailed, HostDataError, get_question
from grader.questions.q1_regression import regression_data, regression_inputs
from grader.report import Attempt, Environment, QuestionResult, Report
from grader.scoring import earns_retry

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "grader" / "report.schema.json").read_text())
Q1 = AssignmentConfig(questions=("q1",), seeds=(0, 1))
BOTH = AssignmentConfig(questions=("q1", "q2"), seeds=(0, 1))


def attempt(outcome: str, *, sanity: bool = True, stage: str | None = "train") -> Attempt:
    return Attempt(seed=0, outcome=outcome, points=2 if sanity else 0, sanity_passed=sanity,  # type: ignore[arg-type]
                   metric_value=None, detail="", wall_s=1.0, cpu_s=1.0, peak_memory_mb=1.0, stage=stage)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "sanity", "stage", "retried"),
    [
        ("below_threshold", True, "done", True),
        ("diverged", True, "train", True),
        ("timeout", True, "train", True),  # a stopping rule that this seed did not reach in time
        ("timeout", False, "sanity", False),  # run() itself never returns: not luck
        ("timeout", True, "evaluate", False),
        ("timeout", False, "import", False),
        ("timeout", False, None, False),  # killed from outside without a report: nothing says it was train()
        ("error", True, "train", False),
        ("failed_check", False, "sanity", False),
        ("out_of_memory", True, "train", False),
        ("crashed", True, "train", False),
        ("bad_output", True, "train", False),
        ("infrastructure_error", False, None, False),
        ("passed", True, "done", False),
    ],
)
def test_only_bad_luck_earns_the_retry(outcome: str, sanity: bool, stage: str | None, retried: bool) -> None:
    assert earns_retry(attempt(outcome, sanity=sanity, stage=stage)) is retried


@pytest.mark.parametrize(
    ("script", "attempts", "counted", "points", "outcome"),
    [
        ({0: "timeout-train", 1: 0.01}, 2, 1, 6, "passed"),
        ({0: "timeout-train", 1: 0.5}, 2, 1, 2, "below_threshold"),
        ({0: "timeout-train", 1: "timeout-train"}, 2, 0, 2, "timeout"),
        ({0: 0.5, 1: "timeout-train"}, 2, 0, 2, "below_threshold"),
        ({0: "timeout-sanity", 1: 0.01}, 1, 0, 0, "timeout"),
        ({0: "timeout-import", 1: 0.01}, 1, 0, 0, "timeout"),
        ({0: "timeout-evaluate", 1: 0.01}, 1, 0, 2, "timeout"),
        ({0: "error", 1: 0.01}, 1, 0, 2, "error"),
        ({0: "oom", 1: 0.01}, 1, 0, 0, "out_of_memory"),
        ({0: "crashed", 1: 0.01}, 1, 0, 0, "crashed"),
    ],
)
def test_a_timeout_inside_train_is_retried_and_student_errors_are_not(
    script: dict[int, Any], attempts: int, counted: int, points: int, outcome: str, tmp_path: Path
) -> None:
    runner = ScriptedRunner(script)
    result = grade_question(tmp_path / "models.py", "q1", Q1, runner, tmp_path)
    assert [r.seed for r in runner.requests] == [0, 1][:attempts]
    assert (len(result.attempts), result.counted_attempt, result.points, result.outcome) == (
        attempts, counted, points, outcome)


@pytest.mark.parametrize("script", [{0: 0.5, 1: "infrastructure_error"}, {0: "infrastructure_error", 1: 0.01}])
def test_an_infrastructure_fault_in_any_attempt_is_never_a_grade(script: dict[int, Any], tmp_path: Path) -> None:
    result = grade_question(tmp_path / "models.py", "q1", Q1, ScriptedRunner(script), tmp_path)
    assert result.outcome == "infrastructure_error" and result.points == 0
    assert result.counted.outcome == "infrastructure_error"


def test_a_single_seed_means_exactly_one_attempt(tmp_path: Path) -> None:
    runner = ScriptedRunner({7: "timeout-train"})
    result = grade_question(tmp_path / "models.py", "q1", AssignmentConfig(questions=("q1",), seeds=(7,)), runner,
                            tmp_path)
    assert [r.seed for r in runner.requests] == [7] and len(result.attempts) == 1 and result.outcome == "timeout"


def test_the_split_reaches_the_runner_and_the_result(tmp_path: Path) -> None:
    runner = ScriptedRunner({0: 0.01})
    result = grade_question(tmp_path / "models.py", "q1", Q1, runner, tmp_path, split="validation")
    assert runner.requests[0].split == "validation"
    assert result.scored_on == "training"  # q1 is scored on its training points whatever the split


def submission_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text("# a submission\n")
    return path


def test_an_import_that_times_out_is_charged_once(tmp_path: Path) -> None:
    runner = ScriptedRunner({("q1", 0): "timeout-import"})
    report = grade_submission(submission_file(tmp_path), BOTH, runner, tmp_path)
    assert [(r.question, r.seed) for r in runner.requests] == [("q1", 0)]
    q1, q2 = report.questions
    assert (q1.outcome, q1.points, q2.outcome, q2.points) == ("timeout", 0, "timeout", 0)
    assert q2.counted.wall_s == 0.0 and q2.counted.stage == "import"
    assert q2.counted.detail.startswith("Not run: importing models.py did not finish in q1 (seed 0: Your code ran")
    assert any("top level of models.py" in hint for hint in q2.hints)
    assert report.gradable


def test_an_import_timeout_stored_by_an_earlier_delivery_is_charged_once_too(tmp_path: Path) -> None:
    first = grade_submission(submission_file(tmp_path), BOTH, ScriptedRunner({("q1", 0): "timeout-import"}),
                             tmp_path)
    stored = {"q1": first.questions[0]}
    runner = ScriptedRunner({})
    again = grade_submission(submission_file(tmp_path), BOTH, runner, tmp_path, already_done=stored.get)
    assert runner.requests == [] and again.questions == first.questions


def test_other_timeouts_do_not_spill_into_the_next_question(tmp_path: Path) -> None:
    runner = ScriptedRunner({("q1", 0): "timeout-sanity", ("q2", 0): {"predictions": [0] * 5000}})
    report = grade_submission(submission_file(tmp_path), BOTH, runner, tmp_path)
    assert [(r.question, r.seed) for r in runner.requests] == [("q1", 0), ("q2", 0)]
    # tmp_path holds no test labels: that is our fault, never a grade.
    q2 = report.questions[1]
    assert q2.outcome == "infrastructure_error" and "could not score" in q2.counted.detail
    assert not report.gradable


def test_hooks_skip_stored_questions_see_each_new_one_and_can_stop_the_loop(tmp_path: Path) -> None:
    path = submission_file(tmp_path)
    stored = grade_submission(path, Q1, ScriptedRunner({0: 0.01}), tmp_path).questions[0]
    seen: list[tuple[str, str]] = []

    def after(result: QuestionResult, environment: Environment) -> None:
        seen.append((result.question, environment.runner))

    runner = ScriptedRunner({("q2", 0): "crashed"})
    report = grade_submission(path, BOTH, runner, tmp_path, already_done={"q1": stored}.get, after_question=after)
    assert [r.question for r in runner.requests] == ["q2"]
    assert seen == [("q2", "local")]  # a stored question is not stored again
    assert report.questions[0] == stored and report.questions[1].outcome == "crashed"

    class ClaimLost(Exception):
        pass

    def lose_claim(result: QuestionResult, environment: Environment) -> None:
        raise ClaimLost

    runner = ScriptedRunner({("q1", 0): 0.01, ("q2", 0): "crashed"})
    with pytest.raises(ClaimLost):
        grade_submission(path, BOTH, runner, tmp_path, after_question=lose_claim)
    assert [r.question for r in runner.requests] == ["q1"]


def test_a_report_with_every_new_field_matches_the_schema(tmp_path: Path) -> None:
    runner = ScriptedRunner({("q1", 0): "timeout-import"})
    report = grade_submission(submission_file(tmp_path), BOTH, runner, tmp_path)
    data = json.loads(json.dumps(report.to_dict()))
    jsonschema.validate(data, SCHEMA)
    assert Report.from_dict(data) == report
    # A result stored before `scored_on` existed reads back with the question's own value.
    old = {k: v for k, v in data["questions"][0].items() if k not in ("scored_on",)}
    old["attempts"] = [{k: v for k, v in a.items() if k not in ("stage", "loss_node")} for a in old["attempts"]]
    assert QuestionResult.from_dict(old).scored_on == "training"


# --- q1 scored on the rows as train() left them ---------------------------------------------------------

Q1_QUESTION = get_question("q1")


def test_reordered_rows_score_as_the_course_scores_them(tmp_path: Path) -> None:
    x = regression_inputs()
    by_x = np.argsort(x[:, 0], kind="stable")
    evaluation = q1_evaluation(0.004, by_x)
    measured = Q1_QUESTION.metric(evaluation, tmp_path)
    predictions = np.asarray(evaluation["predictions"]).reshape(200, 1)
    targets = np.asarray(evaluation["targets"]).reshape(200, 1)
    # The course's formula over the rows in the order scored, to the last bit.
    assert measured.value == float(0.5 * np.mean((predictions - targets) ** 2))
    # Feedback keeps the dataset's original order: the prediction for original point i at position i.
    back = np.empty(200)
    back[by_x] = predictions[:, 0]
    assert measured.predictions == tuple(back.tolist())


def test_a_y_recomputed_with_another_sin_passes_and_the_loss_uses_the_backends_targets(tmp_path: Path) -> None:
    evaluation = q1_evaluation(0.004)
    table = np.asarray(evaluation["targets"]).reshape(200, 1)
    # np.sin(dataset.x) on another CPU or NumPy rounds some points differently in the last bit.
    recomputed = table.copy()
    recomputed[::7] = np.nextafter(recomputed[::7], np.inf)
    evaluation["targets"] = recomputed.ravel().tolist()
    predictions = np.asarray(evaluation["predictions"]).reshape(200, 1)
    assert Q1_QUESTION.metric(evaluation, tmp_path).value == float(0.5 * np.mean((predictions - table) ** 2))


def test_the_backends_targets_are_the_kits_table_in_the_datasets_order() -> None:
    from grader.kit import import_kit

    _, backend = import_kit()
    dataset = backend.RegressionDataset(None)
    x, y = regression_data()
    assert dataset.x.tobytes() == x.tobytes() and dataset.y.tobytes() == y.tobytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e["inputs"].__setitem__(3, e["inputs"][3] + 1e-9), "train() changed dataset.x: 1 of its 200 rows"),
        (lambda e: e["inputs"].__setitem__(3, float("nan")), "train() changed dataset.x: 1 of its 200 rows"),
        (lambda e: e["inputs"].__setitem__(5, e["inputs"][4]), "appears more than once (rows 4 and 5)"),
        (lambda e: e["targets"].__setitem__(9, 0.0), "train() changed dataset.y: 1 of its rows"),
        (lambda e: e.__setitem__("targets", e["predictions"]), "train() changed dataset.y: 200 of its rows"),
        (lambda e: e.__setitem__("inputs", e["inputs"][:100]), "expected 200 numbers where dataset.x holds"),
        (lambda e: e.__setitem__("reported_loss", 0.0), "get_loss() returned a loss of 0.0000"),
    ],
)
def test_tampering_with_the_dataset_is_refused_naming_what_changed(change: Any, message: str, tmp_path: Path) -> None:
    evaluation = q1_evaluation(0.004)
    change(evaluation)
    with pytest.raises(CheckFailed, match=re.escape(message)):
        Q1_QUESTION.metric(evaluation, tmp_path)


def test_a_y_shuffled_apart_from_x_is_refused(tmp_path: Path) -> None:
    evaluation = q1_evaluation(0.004)
    evaluation["targets"] = evaluation["targets"][1:] + evaluation["targets"][:1]
    with pytest.raises(CheckFailed, match=re.escape("train() changed dataset.y")):
        Q1_QUESTION.metric(evaluation, tmp_path)


# --- q2: either loss node -------------------------------------------------------------------------------


def test_a_digit_model_with_square_loss_keeps_its_points_and_gets_the_hint(tmp_path: Path) -> None:
    runner = ScriptedRunner({0: "timeout-train", 1: "error"}, loss_node="SquareLoss")
    config = AssignmentConfig(questions=("q2",), seeds=(0, 1))
    result = grade_question(tmp_path / "models.py", "q2", config, runner, tmp_path)
    assert result.points == 2 and result.counted.loss_node == "SquareLoss"
    assert any("nn.SoftmaxLoss" in hint and "accepts either" in hint for hint in result.hints)
    softmax = grade_question(tmp_path / "models.py", "q2", config,
                             ScriptedRunner({0: "error"}, loss_node="SoftmaxLoss"), tmp_path)
    assert not any("SoftmaxLoss" in hint for hint in softmax.hints)


def test_metric_values_are_finite_or_absent(tmp_path: Path) -> None:
    evaluation = q1_evaluation(0.004)
    evaluation["predictions"] = [math.inf] * 200
    evaluation["reported_loss"] = math.inf
    result = grade_question(tmp_path / "models.py", "q1", AssignmentConfig(questions=("q1",), seeds=(0,)),
                            ScriptedRunner({0: evaluation}), tmp_path)
    assert result.outcome == "diverged" and result.metric_value is None and result.counted.predictions == ()


@pytest.mark.slow
@pytest.mark.mnist
def test_without_test_labels_q2_is_scored_on_the_validation_images(local_runner: Any, data_dir: Path) -> None:
    """The starter kit's case: the caller says the test labels are not there, and q2 says what it scored."""
    submission = Path(__file__).resolve().parent.parent / "reference_solutions" / "patterns" / "q2_square_loss.py"
    config = AssignmentConfig(questions=("q2",), seeds=(0,))
    report = grade_submission(submission, config, local_runner, data_dir, split="validation")
    (q2,) = report.questions
    assert q2.scored_on == "validation" and "Final validation accuracy" in q2.counted.detail
    # The model printed its own validation accuracy after its last epoch: the very number scored.
    printed = [line for line in q2.counted.log_excerpt.splitlines() if "validation accuracy" in line]
    assert q2.metric_value == float(printed[-1].rsplit(" ", 1)[1])


@pytest.mark.parametrize("stored_as", ["npy", "bundle"])
def test_validation_labels_are_read_where_the_backend_reads_them(stored_as: str, tmp_path: Path) -> None:
    labels = np.arange(5000, dtype=np.uint8) % 10
    public = tmp_path / "public"
    public.mkdir()
    if stored_as == "npy":
        np.save(public / "dev_labels.npy", labels)
    else:
        np.savez_compressed(public / "mnist-public.npz", dev_labels=labels, train_labels=labels[:10])
    predictions = labels.tolist()
    predictions[:50] = [(v + 1) % 10 for v in predictions[:50]]
    measured = get_question("q2").metric({"predictions": predictions}, tmp_path, "validation")
    assert measured.value == 0.99


def test_missing_labels_are_our_fault_never_the_students(tmp_path: Path) -> None:
    for split in ("test", "validation"):
        with pytest.raises(HostDataError):
            get_question("q2").metric({"predictions": [0] * 5000}, tmp_path, split)
