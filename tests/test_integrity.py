"""q2's integrity check without a sandbox: the copy, the verdict, how a run cut short during the copy is read,
scoring, and what the report shows to whom (pure and fast; the real cache where labels are needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import numpy.typing as npt
import pytest

from grader.challenge import COPY_FILE, CopyError, CopyKey, load_copy, make_copy, new_key, write_copy
from grader.findings import Findings
from grader.harness import JobError, parse_job
from grader.integrity import GAP_THRESHOLD, PASSING_GAP_THRESHOLD, judge_copy
from grader.protocol import HarnessStream, RunFacts, classify_run
from grader.questions import get_question
from grader.report import (
    Attempt,
    Environment,
    IntegrityCheck,
    QuestionResult,
    Report,
    question_feedback,
    to_gradescope,
)
from grader.runs import RunOutcome
from grader.scoring import score_attempt
from grader.text_report import render_table
from grader.wire import PROTOCOL_VERSION, stamp

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "grader" / "report.schema.json").read_text())
TOKEN = "cd" * 16
RNG = np.random.default_rng(7)


def digits_like(count: int = 50) -> npt.NDArray[np.float64]:
    """Images with MNIST's shape of values: mostly 0, a blob of ink in the middle at varied intensities."""
    images = np.zeros((count, 28, 28))
    for i in range(count):
        top, left = RNG.integers(4, 14, size=2)
        images[i, top:top + 10, left:left + 8] = RNG.integers(1, 256, size=(10, 8)) / 255.0
    return images.reshape(count, 784)


# --- the copy ---------------------------------------------------------------------------------------------


def test_the_copy_is_a_reordered_distorted_version_that_the_key_alone_reproduces() -> None:
    images = digits_like()
    key = new_key(len(images))
    copy = make_copy(images, key)
    order = key.order()
    assert sorted(order) == list(range(len(images))) and list(order) != list(range(len(images)))
    assert copy.shape == images.shape and copy.dtype == np.float64
    assert copy.min() >= 0.0 and copy.max() <= 1.0
    assert np.array_equal(make_copy(images, key), copy)  # the host re-derives nothing else
    # No row of the copy is byte for byte an original image.
    originals = {row.tobytes() for row in images}
    assert not any(row.tobytes() in originals for row in copy)
    # Each row is its original, close: moved by under a pixel, dimmed, noisy, and nowhere else.
    for row, source in zip(copy, order, strict=True):
        original = images[source].reshape(28, 28)
        near = np.zeros((30, 30), dtype=bool)
        for dy in range(3):
            for dx in range(3):
                near[dy:dy + 28, dx:dx + 28] |= original > 0
        assert not (row.reshape(28, 28) > 0)[~near[1:29, 1:29]].any()
        assert abs(row.sum() - images[source].sum()) < 0.45 * images[source].sum()


def test_two_keys_give_different_copies_and_the_secret_is_not_guessable() -> None:
    images = digits_like()
    first, second = new_key(len(images)), new_key(len(images))
    assert first.secret != second.secret and first.secret.bit_length() > 64
    assert list(first.order()) != list(second.order())
    assert not np.array_equal(make_copy(images, first), make_copy(images, second))


def test_the_copy_is_written_for_the_sandbox_and_read_back_as_the_kit_reads_images(tmp_path: Path) -> None:
    images = digits_like()
    np.save(tmp_path / "test_images.npy", images)
    key = CopyKey(secret=12345, images=len(images))
    path = write_copy(tmp_path / "test_images.npy", tmp_path, key)
    assert path == tmp_path / COPY_FILE and path.stat().st_mode & 0o777 == 0o644
    loaded = load_copy(path, len(images))
    assert type(loaded) is np.ndarray and np.array_equal(loaded, make_copy(images, key))
    loaded[0, 0] = 0.5  # copy-on-write, as the kit's images: a model may write into its input
    assert np.array_equal(load_copy(path), make_copy(images, key))


def test_a_copy_that_cannot_be_made_or_read_is_a_copy_error(tmp_path: Path) -> None:
    with pytest.raises(CopyError, match="cannot make"):
        write_copy(tmp_path / "missing.npy", tmp_path, CopyKey(secret=1, images=5))
    np.save(tmp_path / "wrong.npy", np.zeros((5, 10)))
    with pytest.raises(CopyError, match="expected 5 images of 784 pixels"):
        write_copy(tmp_path / "wrong.npy", tmp_path, CopyKey(secret=1, images=5))
    with pytest.raises(CopyError, match="not 5 x 784 float64"):
        load_copy(tmp_path / "wrong.npy", 5)
    with pytest.raises(CopyError, match="cannot read"):
        load_copy(tmp_path / "missing.npy")


# --- the verdict ------------------------------------------------------------------------------------------


def labels_and_key(count: int = 1000) -> tuple[npt.NDArray[np.int64], CopyKey]:
    return RNG.integers(0, 10, size=count), CopyKey(secret=99, images=count)


def in_copy_order(per_image: npt.NDArray[np.int64], key: CopyKey) -> list[int]:
    return [int(v) for v in per_image[key.order()]]


def wrong_on(labels: npt.NDArray[np.int64], fraction: float) -> npt.NDArray[np.int64]:
    """The labels with the first `fraction` of them changed to another digit."""
    out = labels.copy()
    count = round(fraction * len(labels))
    out[:count] = (out[:count] + 1) % 10
    return out


def test_a_model_as_good_on_the_copy_is_not_flagged_once_the_copy_is_put_back_in_order() -> None:
    labels, key = labels_and_key()
    graded = wrong_on(labels, 0.03)
    check = judge_copy(graded.tolist(), {"status": "ok", "predictions": in_copy_order(graded, key), "cpu_s": 0.2},
                       labels, key)
    assert not check.flagged and check.reason == ""
    assert (check.graded_accuracy, check.copy_accuracy, check.gap, check.agreement) == (0.97, 0.97, 0.0, 1.0)
    assert check.copy_status == "ok" and check.copy_cpu_s == 0.2 and check.threshold == GAP_THRESHOLD
    assert check.copy["secret"] == f"{99:032x}" and check.copy["images"] == 1000


@pytest.mark.parametrize(("copy_wrong", "flagged"), [(0.02, False), (0.059, False), (0.061, True), (0.10, True)])
def test_the_gap_is_flagged_above_the_threshold(copy_wrong: float, flagged: bool) -> None:
    labels, key = labels_and_key()
    graded = wrong_on(labels, 0.03)
    copy = wrong_on(labels, copy_wrong)
    check = judge_copy(graded.tolist(), {"status": "ok", "predictions": in_copy_order(copy, key)}, labels, key)
    assert check.gap == pytest.approx(copy_wrong - 0.03)
    assert check.flagged is flagged
    if flagged:
        assert "97.00% on the graded images" in check.reason and "threshold 3.00" in check.reason


@pytest.mark.parametrize(
    ("graded_wrong", "copy_wrong", "threshold", "flagged"),
    [
        (0.03, 0.046, PASSING_GAP_THRESHOLD, True),  # passes on the graded images only, by 1.6 points
        (0.03, 0.044, PASSING_GAP_THRESHOLD, False),  # the same by 1.4 points
        (0.01, 0.025, GAP_THRESHOLD, False),  # both pass: the usual threshold
        (0.05, 0.066, GAP_THRESHOLD, False),  # neither passes: the usual threshold
    ],
)
def test_a_stricter_threshold_applies_when_only_the_graded_images_pass(
    graded_wrong: float, copy_wrong: float, threshold: float, flagged: bool
) -> None:
    labels, key = labels_and_key()
    graded, copy = wrong_on(labels, graded_wrong), wrong_on(labels, copy_wrong)
    check = judge_copy(graded.tolist(), {"status": "ok", "predictions": in_copy_order(copy, key)}, labels, key,
                       passing_accuracy=0.97)
    assert (check.threshold, check.flagged) == (threshold, flagged)
    assert ("passes on the graded images only" in check.reason) is flagged


def test_predictions_answered_in_the_graded_order_are_caught_by_the_reordering() -> None:
    labels, key = labels_and_key()
    check = judge_copy(labels.tolist(), {"status": "ok", "predictions": labels.tolist()}, labels, key)
    assert check.flagged and check.copy_accuracy is not None and check.copy_accuracy < 0.2


@pytest.mark.parametrize(
    ("copy_result", "status", "detail"),
    [
        (None, "missing", "no prediction of the copy"),
        ({"status": "error", "error": {"type": "KeyError", "message": "'unknown image'", "traceback": "..."}},
         "error", "KeyError: 'unknown image'"),
        ({"status": "failed_check", "message": "run() should return an object with shape 5000x10"},
         "failed_check", "5000x10"),
        ({"status": "timeout", "message": "Your code used up its CPU-time budget"}, "timeout", "CPU-time"),
        ({"status": "ok", "predictions": [0] * 999}, "failed_check", "not 1000 digits"),
        ({"status": "ok", "predictions": [10] * 1000}, "failed_check", "not 1000 digits"),
        ({"status": "ok", "predictions": [True] * 1000}, "failed_check", "not 1000 digits"),
        ({"status": "made up"}, "missing", ""),
    ],
)
def test_no_usable_prediction_of_the_copy_is_flagged_with_why(copy_result: Any, status: str, detail: str) -> None:
    labels, key = labels_and_key()
    check = judge_copy(labels.tolist(), copy_result, labels, key)
    assert check.flagged and check.copy_status == status and detail in check.copy_detail + check.reason
    assert check.copy_accuracy is None and check.gap is None and check.graded_accuracy == 1.0


# --- the harness and the host's reading of a run cut short while predicting the copy -------------------------


def test_the_job_may_name_a_copy_and_the_graded_prediction_is_a_stage() -> None:
    base = {"type": "job", "version": PROTOCOL_VERSION, "question": "q2", "seed": 0, "submission_dir": "/s",
            "data_dir": "/d", "scratch_dir": "/t",
            "wall_s": 10, "memory_mb": 100, "output_bytes": 1000}
    assert parse_job(json.dumps({**base, "copy_file": "/challenge/copy.npy"}).encode())["copy_file"]
    with pytest.raises(JobError, match="copy_file"):
        parse_job(json.dumps({**base, "copy_file": 3}).encode())
    findings = Findings(student_started=True)
    for stage in ("imported", "built", "sanity_passed", "trained"):
        findings.add((json.dumps({"kind": "stage", "stage": stage}) + "\n").encode())
    findings.add(b'{"kind": "stage", "stage": "evaluated", "evaluation": {"predictions": [1, 2]}}\n')
    assert findings.violation is None and findings.evaluation == {"predictions": [1, 2]}
    broken = Findings(student_started=True, stage="trained")
    broken.add(b'{"kind": "stage", "stage": "evaluated", "evaluation": [1, 2]}\n')
    assert broken.violation == "the grading channel received a malformed evaluation"


def harness_result(**overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "result", "version": PROTOCOL_VERSION, "token": TOKEN, "question": "q2", "seed": 0, "final": None,
        "evaluated": {"predictions": [3] * 5000}, "stage": "evaluated",
        "sanity_passed": True, "trained": True, "epochs": 3, "validation_accuracy": [], "warnings": [],
        "terminated": None, "violation": None, "exit": {"code": None, "signal": 9},
        "log": {"excerpt": "", "bytes": 0}, "rusage": {"cpu_s": 1.0, "peak_memory_mb": 50.0}, "wall_s": 1.5,
    }
    message.update(overrides)
    return message


def classified(message: dict[str, Any], facts: RunFacts) -> RunOutcome:
    stream = HarnessStream()
    stream.feed((json.dumps(stamp("hello", {"token": TOKEN, "child_pgid": 99})) + "\n").encode())
    stream.feed((json.dumps(message) + "\n").encode())
    stream.close()
    return classify_run(stream, facts)


FACTS = RunFacts(runner="docker", wall_s=2.0, exit_code=0, cpu_limit_s=600.0, wall_limit_s=1200.0)


@pytest.mark.parametrize(
    ("overrides", "facts", "copy_status"),
    [
        ({"terminated": "cpu_limit"}, FACTS, "timeout"),
        ({"terminated": "timeout"}, FACTS, "timeout"),
        ({}, RunFacts(runner="docker", wall_s=2.0, exit_code=137, oom_killed=True), "out_of_memory"),
        ({}, FACTS, "crashed"),
        ({"terminated": "output_limit", "log": {"excerpt": "", "bytes": 10**9}}, FACTS, "bad_output"),
    ],
)
def test_a_run_cut_short_while_predicting_the_copy_keeps_its_graded_prediction(
    overrides: dict[str, Any], facts: RunFacts, copy_status: str
) -> None:
    run = classified(harness_result(**overrides), facts)
    assert run.status == "ok" and run.observation is not None
    final = run.observation["final"]
    assert final["evaluation"] == {"predictions": [3] * 5000} and final["copy"]["status"] == copy_status


def test_tampering_after_the_graded_prediction_still_proves_nothing() -> None:
    run = classified(harness_result(terminated="protocol_violation", violation="forged"), FACTS)
    assert run.status == "bad_output"
    # And a run that never reached the graded prediction is what it always was.
    assert classified(harness_result(evaluated=None, terminated="cpu_limit"), FACTS).status == "timeout"


# --- scoring and the report ---------------------------------------------------------------------------------


def scored_run(data_dir: Path, copy: Any, key: CopyKey | None) -> Attempt:
    labels = np.load(data_dir / "private" / "test_labels.npy")
    final = {"status": "ok", "stage": "done", "evaluation": {"predictions": [int(v) for v in labels]}}
    if copy is not None:
        final["copy"] = copy
    observation = {"final": final, "sanity_passed": True, "trained": True, "stage": "trained",
                   "loss_node": "SoftmaxLoss", "epochs": 1, "validation_accuracy": []}
    run = RunOutcome("ok", observation, "", 1.0, 1.0, 10.0, "", "docker", copy_key=key)
    return score_attempt(get_question("q2"), 0, run, data_dir)


@pytest.mark.mnist
def test_a_flag_never_changes_the_points(data_dir: Path) -> None:
    labels = np.load(data_dir / "private" / "test_labels.npy")
    key = CopyKey(secret=5, images=5000)
    lookup = scored_run(data_dir, {"status": "ok", "predictions": [int(v) for v in labels]}, key)
    assert lookup.outcome == "passed" and lookup.points == 6 and lookup.metric_value == 1.0
    assert lookup.integrity is not None and lookup.integrity.flagged
    honest = scored_run(data_dir, {"status": "ok", "predictions": in_copy_order(labels, key)}, key)
    assert honest.integrity is not None and not honest.integrity.flagged and honest.integrity.gap == 0.0
    # No key, no check: the validation split, runners of old, questions without a copy.
    assert scored_run(data_dir, None, None).integrity is None


def report_with(check: IntegrityCheck | None) -> Report:
    attempt = Attempt(seed=0, outcome="passed", points=6, sanity_passed=True, metric_value=1.0,
                      detail="Final accuracy 100.00% meets the threshold (>= 97%).", wall_s=3.0, cpu_s=2.0,
                      peak_memory_mb=100.0, predictions=(1.0, 2.0), stage="done", integrity=check)
    question = QuestionResult(question="q2", title="Digit classification (MNIST)", points=6, max_points=6,
                              outcome="passed", metric_name="accuracy", metric_value=1.0, threshold=0.97,
                              comparison=">=", attempts=(attempt,), counted_attempt=0)
    return Report(submission_sha256="0" * 64, submission_name="models.py",
                  environment=Environment("docker", "3.9.2", "1.22.4", "1.0"), config={}, questions=(question,),
                  wall_s=3.0)


FLAGGED = judge_copy([1] * 1000, {"status": "ok", "predictions": [2] * 1000, "cpu_s": 0.1}, np.ones(1000),
                     CopyKey(secret=3, images=1000))


def test_the_evidence_round_trips_and_matches_the_published_schema() -> None:
    for check in (FLAGGED, None):
        report = report_with(check)
        data = json.loads(json.dumps(report.to_dict()))
        jsonschema.validate(data, SCHEMA)
        assert Report.from_dict(data) == report
    assert report_with(FLAGGED).flag_reason == f"q2 attempt 1 (seed 0): {FLAGGED.reason}"
    assert report_with(None).flag_reason is None
    # Reports stored before the check existed read as unchecked.
    old = report_with(None).to_dict()
    del old["questions"][0]["attempts"][0]["integrity"]
    assert Report.from_dict(old).questions[0].counted.integrity is None


def test_students_and_gradescope_never_see_the_check() -> None:
    report = report_with(FLAGGED)
    shown = json.dumps(to_gradescope(report)) + question_feedback(report.questions[0])
    for word in ("integrity", "copy", "flag", "100.00% on the graded", "secret", f"{3:032x}"):
        assert word not in shown
    assert FLAGGED.reason


def test_staff_see_the_flag_in_nngrade_grade_and_students_in_the_kit_do_not() -> None:
    table = render_table(report_with(FLAGGED), staff=True)
    assert f"q2: flagged for review: attempt 1 (seed 0): {FLAGGED.reason}" in table
    assert "flagged" not in render_table(report_with(None), staff=True)
    # The starter kit's checker prints the student's table: never the check (it never runs one there either).
    assert "flagged" not in render_table(report_with(FLAGGED))
