"""Turn one classified run into an attempt with points, and decide whether it earns the retry: pure
functions, decided on the host."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.hints import hints_for
from grader.questions import CheckFailed, HostDataError, Question
from grader.report import Attempt, ErrorInfo, Outcome, Stage
from grader.runs import RunOutcome

NON_FINITE_MESSAGE = "Parameter contains NaN or infinity after update, cannot continue"

_STATUS_OUTCOMES: dict[str, Outcome] = {
    "timeout": "timeout",
    "out_of_memory": "out_of_memory",
    "crashed": "crashed",
    "bad_output": "bad_output",
    "infrastructure_error": "infrastructure_error",
}
# The stage the student's process was in, from the last stage it reported passing (grader.harness).
_STAGE_AFTER: dict[str | None, Stage] = {
    None: "import", "imported": "build", "built": "sanity", "sanity_passed": "train", "trained": "evaluate",
}
_FINAL_STAGES: frozenset[str] = frozenset({"import", "build", "sanity", "train", "evaluate", "done"})
# Outcomes of bad luck: a sound model can miss the threshold or diverge under one seed.
_UNLUCKY: frozenset[Outcome] = frozenset({"below_threshold", "diverged"})


def earns_retry(attempt: Attempt) -> bool:
    """The course's retry rule: bad luck gets one more seed, errors in the student's code do not.

    Missing the threshold and diverging are luck; so is a timeout inside train() once the sanity checks
    passed (a stopping rule reached in seconds under one seed may not be reached in time under another).
    Exceptions, failed checks, memory kills, crashes and infrastructure faults are not.
    """
    if attempt.outcome in _UNLUCKY:
        return True
    return attempt.outcome == "timeout" and attempt.sanity_passed and attempt.stage == "train"


def score_attempt(question: Question, seed: int, run: RunOutcome, data_dir: Path, split: str = "test") -> Attempt:
    observation = run.observation or {}
    # A tampered channel proves nothing, so nothing it says earns points; a flood of prints is no tampering.
    trusted = run.status != "bad_output" or observation.get("terminated") == "output_limit"
    sanity_passed = trusted and bool(observation.get("sanity_passed"))
    metric_value: float | None = None
    error: ErrorInfo | None = None
    predictions: tuple[float, ...] = ()
    outcome: Outcome
    stage = _stage_of(run, observation)
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
                measured = question.metric(evaluation, data_dir, split)
            except CheckFailed as failure:
                outcome, detail = "failed_check", str(failure)
            except HostDataError as fault:  # the host's own labels: never the student's fault
                outcome, detail = "infrastructure_error", f"The grader could not score this attempt: {fault}"
            else:
                metric_value = measured.value
                predictions = _finite_predictions(measured.predictions)
                outcome, detail = _metric_outcome(question, metric_value, question.scored_on(split))
                if not math.isfinite(metric_value):
                    metric_value = None
    points = (question.sanity_points if sanity_passed else 0) + (
        question.threshold_points if outcome == "passed" else 0
    )
    loss_node = observation.get("loss_node") if sanity_passed else None
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
        stage=stage,
        loss_node=loss_node if isinstance(loss_node, str) else None,
    )
    return _with_hints(question, attempt)


def _stage_of(run: RunOutcome, observation: Mapping[str, Any]) -> Stage | None:
    """Where the attempt was when it ended; None when it never reported (nothing started, or tampering)."""
    if run.observation is None or run.status == "infrastructure_error":
        return None
    final = observation.get("final")
    if isinstance(final, Mapping) and final.get("status") == "ok":
        return "done"
    if isinstance(final, Mapping) and final.get("stage") in _FINAL_STAGES:
        stage: Stage = final["stage"]
        return stage
    return _STAGE_AFTER.get(observation.get("stage"))


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


def _metric_outcome(question: Question, value: float, scored_on: str) -> tuple[Outcome, str]:
    shown = f"{value:.2%}" if question.metric_name == "accuracy" else f"{value:.6f}"
    goal = f"{question.threshold:.0%}" if question.metric_name == "accuracy" else f"{question.threshold}"
    name = f"{scored_on} {question.metric_name}" if scored_on == "validation" else question.metric_name
    if not math.isfinite(value):
        return "diverged", f"The final {name} is not a finite number."
    if question.meets_threshold(value):
        return "passed", f"Final {name} {shown} meets the threshold ({question.comparison} {goal})."
    return "below_threshold", f"Final {name} {shown} misses the threshold ({question.comparison} {goal})."


def _finite_predictions(values: Any) -> tuple[float, ...]:
    if not isinstance(values, Sequence) or not all(isinstance(v, (int, float)) for v in values):
        return ()
    if not all(math.isfinite(v) for v in values):
        return ()
    return tuple(values)


def _with_hints(question: Question, attempt: Attempt) -> Attempt:
    return replace(attempt, hints=hints_for(question.id, attempt))
