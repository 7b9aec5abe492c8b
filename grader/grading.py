"""Grade a submission: every question, each with its seeds and the one retry, into a report."""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable
from pathlib import Path

from grader.config import AssignmentConfig
from grader.questions import get_question
from grader.report import RETRYABLE, Attempt, Environment, ErrorInfo, QuestionResult, Report
from grader.runs import ProgressCallback, Runner, RunOutcome, RunRequest
from grader.scoring import score_attempt
from grader.source import MAX_SOURCE_BYTES, SourceProblem, check_source

KIT_VERSION = "1.0"

QuestionCallback = Callable[[QuestionResult], None]


def grade_question(
    submission: Path,
    question_id: str,
    config: AssignmentConfig,
    runner: Runner,
    data_dir: Path,
    on_progress: ProgressCallback | None = None,
    on_run: Callable[[RunOutcome], None] | None = None,
) -> QuestionResult:
    """Run the first seed; retry once with the next seed when the miss may be bad luck; keep the better."""
    question = get_question(question_id)
    refused = _source_problem(submission)
    if refused is not None:
        # The portal refuses such files at upload; a stored or local one is refused the same way, not run.
        return _refused_result(question_id, config.seeds[0], refused)
    limits = config.limits_for(question_id)
    attempts: list[Attempt] = []
    for seed in config.seeds[:2]:
        run = runner.run(RunRequest(submission, question_id, seed, limits), _tagged(on_progress, question_id, seed))
        if on_run is not None:
            on_run(run)
        attempt = score_attempt(question, seed, run, data_dir)
        attempts.append(attempt)
        if attempt.outcome not in RETRYABLE:
            break
    counted = max(range(len(attempts)), key=lambda i: _rank(attempts[i], question.comparison, i))
    best = attempts[counted]
    return QuestionResult(
        question=question.id,
        title=question.title,
        points=best.points,
        max_points=question.max_points,
        outcome=best.outcome,
        metric_name=question.metric_name,
        metric_value=best.metric_value,
        threshold=question.threshold,
        comparison=question.comparison,
        attempts=tuple(attempts),
        counted_attempt=counted,
        hints=best.hints,
    )


def _source_problem(submission: Path) -> SourceProblem | None:
    """Why the file is not a valid models.py, or None. A file we cannot read is the runner's to report (a
    fault of ours, never charged as the student's); the size cap is the portal's policy, not checked here."""
    try:
        data = submission.read_bytes()
    except OSError:
        return None
    refused = check_source(data, max_bytes=max(len(data), MAX_SOURCE_BYTES))
    return refused if isinstance(refused, SourceProblem) else None


def _refused_result(question_id: str, seed: int, problem: SourceProblem) -> QuestionResult:
    """An `error` result, 0 points, for a file that is not a valid models.py (grader/source.py says why)."""
    question = get_question(question_id)
    attempt = Attempt(seed=seed, outcome="error", points=0, sanity_passed=False, metric_value=None,
                      detail=f"models.py was not run: {problem.message}", wall_s=0.0, cpu_s=0.0, peak_memory_mb=0.0,
                      error=ErrorInfo(type="InvalidSource", message=problem.message, traceback=""))
    return QuestionResult(
        question=question.id, title=question.title, points=0, max_points=question.max_points, outcome="error",
        metric_name=question.metric_name, metric_value=None, threshold=question.threshold,
        comparison=question.comparison, attempts=(attempt,), counted_attempt=0,
    )


def grade_submission(
    submission: Path,
    config: AssignmentConfig,
    runner: Runner,
    data_dir: Path,
    on_question: QuestionCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> Report:
    started = time.monotonic()
    results: list[QuestionResult] = []
    runs: list[RunOutcome] = []
    for question_id in config.questions:
        result = grade_question(submission, question_id, config, runner, data_dir, on_progress, runs.append)
        results.append(result)
        if on_question is not None:
            on_question(result)
    return Report(
        submission_sha256=hashlib.sha256(submission.read_bytes()).hexdigest(),
        submission_name=submission.name,
        environment=environment_of(runner, runs),
        config=config.to_dict(),
        questions=tuple(results),
        wall_s=round(time.monotonic() - started, 3),
        gradable=all(r.outcome != "infrastructure_error" for r in results),
    )


def environment_of(runner: Runner, runs: list[RunOutcome]) -> Environment:
    """Where the attempts ran, as they reported it; the host's own versions only if none did."""
    reported = next((run.versions for run in runs if run.versions is not None), None)
    python_version, numpy_version = reported or (platform.python_version(), _host_numpy_version())
    digest = next((run.image_digest for run in runs if run.image_digest), None)
    return Environment(
        runner=runner.name,
        python_version=python_version,
        numpy_version=numpy_version,
        kit_version=KIT_VERSION,
        image_digest=digest,
    )


def _host_numpy_version() -> str:
    import numpy

    return str(numpy.__version__)


def _rank(attempt: Attempt, comparison: str, index: int) -> tuple[int, float, int]:
    """Order attempts: more points, then a better metric, then the earlier one."""
    if attempt.metric_value is None:
        metric = float("-inf")
    else:
        metric = attempt.metric_value if comparison == ">=" else -attempt.metric_value
    return (attempt.points, metric, -index)


def _tagged(on_progress: ProgressCallback | None, question: str, seed: int) -> ProgressCallback | None:
    if on_progress is None:
        return None
    return lambda event: on_progress({**event, "question": question, "seed": seed})
