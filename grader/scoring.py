"""Turn one classified run into an attempt with points: pure functions, decided on the host."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.hints import hints_for
from grader.mnist import MnistDataError
from grader.questions import CheckFailed, Question
from grader.report import Attempt, ErrorInfo, Outcome
from grader.runs import RunOutcome

NON_FINITE_MESSAGE = "Parameter contains NaN or infinity after update, cannot continue"

_STATUS_OUTCOMES: dict[str, Outcome] = {
    "timeout": "timeout",
    "out_of_memory": "out_of_memory",
    "crashed": "crashed",
    "bad_output": "bad_output",
    "infrastructure_error": "infrastructure_error",
}


def score_attempt(question: Question, seed: int, run: RunOutcome, data_dir: Path) -> Attempt:
    observation = run.observation or {}
    # A tampered channel proves nothing, so nothing it says earns points; a flood of prints is no tampering.
    trusted = run.status != "bad_output" or observation.get("terminated") == "output_limit"
    sanity_passed = trusted and bool(observation.get("sanity_passed"))
    metric_value: float | None = None
    error: ErrorInfo | None = None
    predictions: tuple[float, ...] = ()
    outcome: Outcome
    if run.status != "ok":
        outcome, detail = _STATUS_OUTCOMES[run.status], run.detail
    else:
        final: Mapping[str, Any] = observation["final"]
        if final["status"] == "failed_check":
            outcome, detail = "failed_check", str(final["message"])
        elif final["status"] == "error":
            error = ErrorInfo(**{k: str(final["error"][k]) for k in ("type", "message", "traceback")})
            outcome, detail = _error_outcome(error, str(final.get("stage", "")))
        else:
            evaluation: Mapping[str, Any] = final["evaluation"]
            try:
                metric_value = question.metric(evaluation, data_dir)
            except CheckFailed as failure:
                outcome, detail = "failed_check", str(failure)
            except MnistDataError as failure:  # the host's own labels: never the student's fault
                outcome, detail = "infrastructure_error", str(failure)
            else:
                predictions = _finite_predictions(evaluation.get("predictions"))
                outcome, detail = _metric_outcome(question, metric_value)
                if not math.isfinite(metric_value):
                    metric_value = None
    points = (question.sanity_points if sanity_passed else 0) + (
        question.threshold_points if outcome == "passed" else 0
    )
    attempt = Attempt(
        seed=seed,
        outcome=outcome,
        points=points,
        sanity_passed=sanity_passed,
        metric_value=metric_value,
        detail=detail,
        wall_s=round(run.wall_s, 3),
        cpu_s=run.cpu_s,
        peak_memory_mb=run.peak_memory_mb,
        log_excerpt=run.log_excerpt,
        error=error,
        epochs=observation.get("epochs") if isinstance(observation.get("epochs"), int) else None,
        validation_accuracy=tuple(observation.get("validation_accuracy", ())),
        predictions=predictions,
        warnings=run.warnings,
        cpu_limit_s=run.cpu_limit_s,
        wall_limit_s=run.wall_limit_s,
    )
    return _with_hints(question, attempt)


def _error_outcome(error: ErrorInfo, stage: str) -> tuple[Outcome, str]:
    if NON_FINITE_MESSAGE in error.message:
        return "diverged", "Training diverged: a parameter became NaN or infinity."
    if error.type == "MemoryError":
        return "out_of_memory", "Your code tried to use more memory than the limit allows."
    where = {
        "import": "while importing models.py",
        "build": "while building the model",
        "sanity": "during the sanity checks",
        "train": "inside train()",
        "evaluate": "while the grader evaluated the trained model",
    }.get(stage, "in your code")
    return "error", f"{error.type} {where}: {error.message}"


def _metric_outcome(question: Question, value: float) -> tuple[Outcome, str]:
    shown = f"{value:.2%}" if question.metric_name == "accuracy" else f"{value:.6f}"
    goal = f"{question.threshold:.0%}" if question.metric_name == "accuracy" else f"{question.threshold}"
    if not math.isfinite(value):
        return "diverged", f"The final {question.metric_name} is not a finite number."
    if question.meets_threshold(value):
        return "passed", f"Final {question.metric_name} {shown} meets the threshold ({question.comparison} {goal})."
    return "below_threshold", (
        f"Final {question.metric_name} {shown} misses the threshold ({question.comparison} {goal})."
    )


def _finite_predictions(values: Any) -> tuple[float, ...]:
    if not isinstance(values, Sequence) or not all(isinstance(v, (int, float)) for v in values):
        return ()
    if not all(math.isfinite(v) for v in values):
        return ()
    return tuple(values)


def _with_hints(question: Question, attempt: Attempt) -> Attempt:
    return replace(attempt, hints=hints_for(question.id, attempt))
