"""The one grading loop: every question, each with its seeds and the one retry, into a report.

`grade_submission` is what the worker, `nngrade grade` and the starter kit's checker all run; each brings
its own runner and hooks (see its docstring), none has a copy of the loop.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from grader.config import AssignmentConfig
from grader.messages import N_, message
from grader.questions import Question, get_question
from grader.report import Attempt, Environment, ErrorInfo, QuestionResult, Report, ScoredOn
from grader.runs import ProgressCallback, Runner, RunOutcome, RunRequest, Split
from grader.scoring import earns_retry, score_attempt
from grader.source import MAX_SOURCE_BYTES, SourceProblem, check_source

KIT_VERSION = "1.0"

# Hooks of grade_submission.
AlreadyDone = Callable[[str], "QuestionResult | None"]
AfterQuestion = Callable[[QuestionResult, Environment], None]


def grade_submission(
    submission: Path,
    config: AssignmentConfig,
    runner: Runner,
    data_dir: Path,
    *,
    split: Split = "test",
    already_done: AlreadyDone | None = None,
    after_question: AfterQuestion | None = None,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Grade every question of `config` in order and return the report.

    split: the held-out images q2 is scored on. "test" needs the test labels in `data_dir`'s private part
        (the server); "validation" scores on the public validation labels instead (the starter kit, where
        the test labels never are), and each result says which it was (`QuestionResult.scored_on`).
    already_done(question_id): a result stored earlier (by a previous delivery of the same run), used as is
        instead of grading the question again; None to grade it.
    after_question(result, environment): called after each question graded here (not for those
        already done), before the next starts. The worker stores the result under its claim there; to stop
        the loop (a lost claim, an infrastructure fault), raise: the exception propagates to the caller.
    on_progress: the runner's progress events, tagged with "question" and "seed".

    An import of models.py that times out is charged once: the questions after it end at once with the
    same outcome instead of each waiting out its own limit.
    """
    started = time.monotonic()
    results: list[QuestionResult] = []
    runs: list[RunOutcome] = []
    stuck_import: QuestionResult | None = None
    for question_id in config.questions:
        done = already_done(question_id) if already_done is not None else None
        if done is not None:
            result = done
        elif stuck_import is not None:
            result = charged_import_timeout(get_question(question_id), config, stuck_import, split)
        else:
            result = grade_question(submission, question_id, config, runner, data_dir, on_progress, runs.append,
                                    split=split)
        if done is None and after_question is not None:
            after_question(result, environment_of(runner, runs))
        results.append(result)
        if stuck_import is None and import_timed_out(result):
            stuck_import = result
    return Report(
        submission_sha256=hashlib.sha256(submission.read_bytes()).hexdigest(),
        submission_name=submission.name,
        environment=environment_of(runner, runs),
        config=config.to_dict(),
        questions=tuple(results),
        wall_s=round(time.monotonic() - started, 3),
        gradable=all(r.outcome != "infrastructure_error" for r in results),
    )


def grade_question(
    submission: Path,
    question_id: str,
    config: AssignmentConfig,
    runner: Runner,
    data_dir: Path,
    on_progress: ProgressCallback | None = None,
    on_run: Callable[[RunOutcome], None] | None = None,
    *,
    split: Split = "test",
) -> QuestionResult:
    """Run the first seed; retry once with the next seed when the miss may be bad luck; keep the better.

    With a single configured seed there is no retry. An infrastructure fault in any attempt makes the
    question an infrastructure error: a grade decided without the retry it was owed is no grade.
    """
    question = get_question(question_id)
    refused = _source_problem(submission)
    if refused is not None:
        # The portal refuses such files at upload; a stored or local one is refused the same way, not run.
        return _refused_result(question, config.seeds[0], refused, split)
    limits = config.limits_for(question_id)
    attempts: list[Attempt] = []
    for seed in config.seeds[:2]:
        run = runner.run(RunRequest(submission, question_id, seed, limits, split),
                         _tagged(on_progress, question_id, seed))
        if on_run is not None:
            on_run(run)
        attempt = score_attempt(question, seed, run, data_dir, split)
        attempts.append(attempt)
        if not earns_retry(attempt):
            break
    faults = [i for i, a in enumerate(attempts) if a.outcome == "infrastructure_error"]
    if faults:
        counted = faults[0]
    else:
        counted = max(range(len(attempts)), key=lambda i: _rank(attempts[i], question.comparison, i))
    best = attempts[counted]
    return _result(question, attempts, counted, question.scored_on(split), best.hints)


def _source_problem(submission: Path) -> SourceProblem | None:
    """Why the file is not a valid models.py, or None. A file we cannot read is the runner's to report (a
    fault of ours, never charged as the student's); the size cap is the portal's policy, not checked here."""
    try:
        data = submission.read_bytes()
    except OSError:
        return None
    refused = check_source(data, max_bytes=max(len(data), MAX_SOURCE_BYTES))
    return refused if isinstance(refused, SourceProblem) else None


def _refused_result(question: Question, seed: int, problem: SourceProblem, split: Split) -> QuestionResult:
    """An `error` result, 0 points, for a file that is not a valid models.py (grader/source.py says why)."""
    why = message(N_("models.py was not run: {problem}"), problem=problem.message)
    attempt = Attempt(seed=seed, outcome="error", points=0, sanity_passed=False, metric_value=None,
                      detail=why.text, wall_s=0.0, cpu_s=0.0, peak_memory_mb=0.0,
                      error=ErrorInfo(type="InvalidSource", message=problem.message, traceback=""),
                      detail_message=why)
    return _result(question, [attempt], 0, question.scored_on(split), ())


def import_timed_out(result: QuestionResult) -> bool:
    """True when importing models.py never finished within the question's limit."""
    counted = result.counted
    return counted.outcome == "timeout" and counted.stage == "import"


def charged_import_timeout(
    question: Question, config: AssignmentConfig, stuck: QuestionResult, split: Split = "test"
) -> QuestionResult:
    """The result of a question not run because importing models.py already timed out in `stuck`."""
    source = stuck.counted
    attempt = Attempt(
        seed=config.seeds[0],
        outcome="timeout",
        points=0,
        sanity_passed=False,
        metric_value=None,
        detail=(
            f"Not run: importing models.py did not finish in {stuck.question} (seed {source.seed}: "
            f"{source.detail.rstrip('.')}), and every question imports the same file, so the time is charged once."
        ),
        wall_s=0.0,
        cpu_s=0.0,
        peak_memory_mb=0.0,
        hints=source.hints,
        stage="import",
        # In other languages without the stuck attempt's own detail: its English words would sit inside.
        detail_message=message(N_(
            "Not run: importing models.py did not finish in {question} (seed {seed}), and every question imports "
            "the same file, so the time is charged once."), question=stuck.question, seed=source.seed),
        hint_messages=source.hint_messages,
    )
    return _result(question, [attempt], 0, question.scored_on(split), attempt.hints)


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


def _result(
    question: Question, attempts: list[Attempt], counted: int, scored_on: str, hints: tuple[str, ...]
) -> QuestionResult:
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
        hints=hints,
        scored_on=cast(ScoredOn, scored_on),
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
