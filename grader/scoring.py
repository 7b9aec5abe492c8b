"""Turn one classified run into an attempt with points, and decide whether it earns the retry: pure
functions, decided on the host."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.hints import hint_messages_for
from grader.messages import N_, Message, match_message, message, parse_message
from grader.missing_imports import WARNING_TEMPLATES
from grader.questions import CheckFailed, HostDataError, Question
from grader.report import Attempt, ErrorInfo, IntegrityCheck, Outcome, Stage
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
    "evaluated": "evaluate",  # predicting the integrity check's copy, which is part of the evaluation
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
    integrity: IntegrityCheck | None = None
    outcome: Outcome
    stage = _stage_of(run, observation)
    why: Message | None = None
    if run.status != "ok":
        outcome, detail, why = _STATUS_OUTCOMES[run.status], run.detail, run.detail_message
    else:
        final: Mapping[str, Any] = observation["final"]
        if final["status"] == "failed_check":
            outcome, detail = "failed_check", str(final["message"])
            # Reported by the student's process, so believed only when it says what the English says.
            why = parse_message({"template": final.get("template"), "params": final.get("params")})
            if why is not None and why.text != detail:
                why = None
        elif final["status"] == "error":
            error = ErrorInfo(**{k: str(final["error"][k]) for k in ("type", "message", "traceback")})
            outcome, why = _error_outcome(error, str(final.get("stage", "")))
        else:
            evaluation: Mapping[str, Any] = final["evaluation"]
            try:
                measured = question.metric(evaluation, data_dir, split)
            except CheckFailed as failure:
                outcome, why = "failed_check", message(failure.template, **failure.params)
            except HostDataError as fault:  # the host's own labels: never the student's fault
                outcome, why = "infrastructure_error", message(
                    N_("The grader could not score this attempt: {fault}"), fault=str(fault))
            else:
                metric_value = measured.value
                predictions = _finite_predictions(measured.predictions)
                outcome, why = _metric_outcome(question, metric_value, question.scored_on(split))
                if not math.isfinite(metric_value):
                    metric_value = None
                if run.copy_key is not None and split == "test":
                    try:
                        integrity = question.judge_copy(final.get("copy"), run.copy_key, data_dir, measured)
                    except HostDataError as fault:
                        outcome, why = "infrastructure_error", message(
                            N_("The grader could not score this attempt: {fault}"), fault=str(fault))
        if why is not None:
            detail = why.text
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
        detail_message=why,
        warning_messages=_warning_messages(run.warnings),
        integrity=integrity,
    )
    return _with_hints(question, attempt)


def _warning_messages(warnings: Sequence[str]) -> tuple[Message, ...]:
    """The warnings read back into their templates; none when one of them is not ours (then all in English)."""
    found = [match_message(w, WARNING_TEMPLATES.values()) for w in warnings]
    return tuple(m for m in found if m is not None) if all(found) else ()


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


_ERROR_WHERE: dict[str, str] = {
    "import": N_("{type} while importing models.py: {message}"),
    "build": N_("{type} while building the model: {message}"),
    "sanity": N_("{type} during the sanity checks: {message}"),
    "train": N_("{type} inside train(): {message}"),
    "evaluate": N_("{type} while the grader evaluated the trained model: {message}"),
}


def _error_outcome(error: ErrorInfo, stage: str) -> tuple[Outcome, Message]:
    if NON_FINITE_MESSAGE in error.message:
        return "diverged", message(N_("Training diverged: a parameter became NaN or infinity."))
    if error.type == "MemoryError":
        return "out_of_memory", message(N_("Your code tried to use more memory than the limit allows."))
    template = _ERROR_WHERE.get(stage, N_("{type} in your code: {message}"))
    return "error", message(template, type=error.type, message=error.message)


# (metric, scored on validation) -> the templates for not finite, meets, misses.
_METRIC_DETAILS: dict[tuple[str, bool], tuple[str, str, str]] = {
    ("loss", False): (N_("The final loss is not a finite number."),
                      N_("Final loss {value:.6f} meets the threshold ({comparison} {goal:g})."),
                      N_("Final loss {value:.6f} misses the threshold ({comparison} {goal:g}).")),
    ("accuracy", False): (N_("The final accuracy is not a finite number."),
                          N_("Final accuracy {value:.2%} meets the threshold ({comparison} {goal:.0%})."),
                          N_("Final accuracy {value:.2%} misses the threshold ({comparison} {goal:.0%}).")),
    ("accuracy", True): (N_("The final validation accuracy is not a finite number."),
                         N_("Final validation accuracy {value:.2%} meets the threshold ({comparison} {goal:.0%})."),
                         N_("Final validation accuracy {value:.2%} misses the threshold ({comparison} {goal:.0%}).")),
}


def _metric_outcome(question: Question, value: float, scored_on: str) -> tuple[Outcome, Message]:
    key = (question.metric_name, scored_on == "validation")
    not_finite, meets, misses = _METRIC_DETAILS.get(key) or _METRIC_DETAILS[(question.metric_name, False)]
    if not math.isfinite(value):
        return "diverged", message(not_finite)
    values: dict[str, str | float] = {"value": value, "comparison": question.comparison, "goal": question.threshold}
    if question.meets_threshold(value):
        return "passed", message(meets, **values)
    return "below_threshold", message(misses, **values)


def _finite_predictions(values: Any) -> tuple[float, ...]:
    if not isinstance(values, Sequence) or not all(isinstance(v, (int, float)) for v in values):
        return ()
    if not all(math.isfinite(v) for v in values):
        return ()
    return tuple(values)


def _with_hints(question: Question, attempt: Attempt) -> Attempt:
    hints = hint_messages_for(question.id, attempt)
    return replace(attempt, hints=tuple(h.text for h in hints), hint_messages=hints)
