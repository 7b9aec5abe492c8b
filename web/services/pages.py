"""The result page's shape: one row per question and attempt, formatted; the live-status payload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader.report import Attempt, QuestionResult, format_metric
from web.services import feedback
from web.services.models import SubmissionView

STATUS_LABELS: dict[str, str] = {
    "queued": "Waiting in the queue",
    "running": "Grading now",
    "graded": "Graded",
    "failed": "Could not be graded",
    "error": "Could not be graded",
}


def status_label(status: str) -> str:
    """A submission state as the pages say it: 'queued' -> 'Waiting in the queue'."""
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


@dataclass(frozen=True)
class AttemptRow:
    number: int
    seed: int
    outcome: str
    points: int
    metric: str
    detail: str
    wall_s: float
    cpu_s: float
    peak_memory_mb: float
    epochs: int | None
    counted: bool


@dataclass(frozen=True)
class QuestionRow:
    question: str
    title: str
    points: int
    max_points: int
    passed: bool
    outcome: str
    metric_name: str
    metric: str
    goal: str  # "≤ 0.02" / "≥ 97.00%"
    detail: str
    hints: tuple[str, ...]
    warnings: tuple[str, ...]  # the counted attempt's, about the file (e.g. an unused missing import)
    attempts: tuple[AttemptRow, ...]
    log_excerpt: str
    error_text: str
    validation_accuracy: tuple[float, ...]


def question_row(q: QuestionResult) -> QuestionRow:
    """One question of a report, formatted for the result page."""
    counted = q.counted
    return QuestionRow(
        question=q.question,
        title=q.title,
        points=q.points,
        max_points=q.max_points,
        passed=q.points == q.max_points,
        outcome=q.outcome,
        metric_name=q.metric_name,
        metric=format_metric(q.metric_name, q.metric_value),
        goal=f"{q.comparison.replace('<=', '≤').replace('>=', '≥')} {format_metric(q.metric_name, q.threshold)}"
        if q.metric_name != "loss" else f"{q.comparison.replace('<=', '≤').replace('>=', '≥')} {q.threshold:g}",
        detail=counted.detail,
        hints=tuple(dict.fromkeys((*q.hints, *counted.hints))),
        warnings=counted.warnings,
        attempts=tuple(_attempt_row(i, a, q) for i, a in enumerate(q.attempts)),
        log_excerpt=counted.log_excerpt,
        error_text=_error_text(counted),
        validation_accuracy=counted.validation_accuracy,
    )


def _attempt_row(index: int, a: Attempt, q: QuestionResult) -> AttemptRow:
    return AttemptRow(
        number=index + 1, seed=a.seed, outcome=a.outcome, points=a.points,
        metric=format_metric(q.metric_name, a.metric_value), detail=a.detail, wall_s=a.wall_s,
        cpu_s=a.cpu_s, peak_memory_mb=a.peak_memory_mb, epochs=a.epochs, counted=index == q.counted_attempt,
    )


def _error_text(a: Attempt) -> str:
    if a.error is None:
        return ""
    return f"{a.error.type}: {a.error.message}\n{a.error.traceback}".rstrip()


def result_page(submission: SubmissionView, data_dir: Path) -> dict[str, Any]:
    """The template context of a result page: questions, charts per question, the per-digit table."""
    report = submission.report
    questions = [question_row(q) for q in report.questions] if report is not None else []
    charts_by_question: dict[str, list[feedback.ChartSpec]] = {}
    for spec in feedback.available_charts(report, data_dir):
        charts_by_question.setdefault(spec.question, []).append(spec)
    return {
        "submission": submission,
        "questions": questions,
        "charts": charts_by_question,
        "digit_table": feedback.digit_summary(report, data_dir),
        "report": report,
        "status": status_payload(submission),
    }


def status_payload(submission: SubmissionView) -> dict[str, Any]:
    """The live-status JSON the pages poll; small and cheap, no report inside."""
    return {
        "id": submission.id,
        "number": submission.number,
        "status": submission.status,
        "label": status_label(submission.status),
        "pending": submission.pending,
        "queue_position": submission.queue_position,
        "detail": submission.status_detail,
        "points": submission.points,
        "max_points": submission.max_points,
        "created_at": _iso(submission.created_at),
        "started_at": _iso(submission.started_at),
        "finished_at": _iso(submission.finished_at),
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")
