"""The result page's shape: one row per question and attempt, formatted in the request's language; the
live-status payload. Runs inside a request (Flask-Babel's gettext and the request's locale)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader.messages import N_, Message
from grader.report import Attempt, QuestionResult
from web.i18n import fmt_decimal, fmt_metric, fmt_wait, gettext, lazy_gettext, render
from web.services import feedback
from web.services.models import OverrideView, SubmissionView

STATUS_LABELS: dict[str, Any] = {
    "queued": lazy_gettext("Waiting in the queue"),
    "running": lazy_gettext("Grading now"),
    "graded": lazy_gettext("Graded"),
    "failed": lazy_gettext("Could not be graded"),
    "error": lazy_gettext("Could not be graded"),
    "superseded": lazy_gettext("Replaced by a newer upload"),
    "cancelled": lazy_gettext("Cancelled"),
    "none": lazy_gettext("No submission"),
    "flagged": lazy_gettext("Flagged for review"),
}

# The grader's outcome names (grader.report.OUTCOMES) as a student reads them.
OUTCOME_LABELS: dict[str, Any] = {
    "passed": lazy_gettext("passed"),
    "below_threshold": lazy_gettext("below the goal"),
    "diverged": lazy_gettext("diverged"),
    "failed_check": lazy_gettext("failed a check"),
    "error": lazy_gettext("error in your code"),
    "timeout": lazy_gettext("time limit reached"),
    "out_of_memory": lazy_gettext("out of memory"),
    "crashed": lazy_gettext("crashed"),
    "bad_output": lazy_gettext("bad output"),
    "infrastructure_error": lazy_gettext("problem on our side"),
}

METRIC_LABELS: dict[str, Any] = {"loss": lazy_gettext("Loss"), "accuracy": lazy_gettext("Accuracy")}

# Question titles as the grader's registry names them (grader/questions), so that stored reports translate.
QUESTION_TITLES: dict[str, Any] = {
    "Regression: fit sin(x)": lazy_gettext("Regression: fit sin(x)"),
    "Digit classification (MNIST)": lazy_gettext("Digit classification (MNIST)"),
    "Regression": lazy_gettext("Regression"),
    "Digit classification": lazy_gettext("Digit classification"),
}


def status_label(status: str) -> str:
    """A submission state as the pages say it: 'queued' -> 'Waiting in the queue'."""
    label = STATUS_LABELS.get(status)
    return str(label) if label is not None else status.replace("_", " ").capitalize()


def outcome_label(outcome: str) -> str:
    """An attempt outcome as a student reads it: 'below_threshold' -> 'below the goal'."""
    label = OUTCOME_LABELS.get(outcome)
    return str(label) if label is not None else outcome.replace("_", " ")


def metric_label(name: str) -> str:
    """'loss' -> 'Loss' / 'Pérdida'."""
    label = METRIC_LABELS.get(name)
    return str(label) if label is not None else name.capitalize()


def question_title(title: str) -> str:
    """A question's title in the request's language (unknown titles as stored)."""
    label = QUESTION_TITLES.get(title)
    return str(label) if label is not None else title


def queue_text(s: SubmissionView) -> str:
    """'Position 3 in the queue; grading starts in about 4 min' for a waiting submission, else ''."""
    if s.status != "queued" or not s.queue_position:
        return ""
    position = gettext("Position %(n)s in the queue", n=s.queue_position)
    if s.estimated_start_s is None:
        return position
    if s.estimated_start_s <= 0:
        return gettext("%(position)s; grading starts any moment now", position=position)
    return gettext("%(position)s; grading starts in %(wait)s", position=position, wait=fmt_wait(s.estimated_start_s))


def status_detail(s: SubmissionView) -> str:
    """The sentence under the status (why it waits, what runs), in the request's language."""
    return render(s.status_detail)


@dataclass(frozen=True)
class AttemptRow:
    """One attempt as the result page shows it: seed, outcome, points, the metric and detail already in the reader's
    language, seconds of wall and CPU time, peak memory in MB, epochs, whether it counted."""

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
    """One question as the result page shows it, every sentence already in the reader's language: points, outcome, the
    metric against its goal, the detail, hints, warnings and the attempts."""

    question: str
    title: str
    points: int
    max_points: int
    passed: bool
    outcome: str
    metric_name: str
    metric_label: str
    metric: str
    goal: str  # "≤ 0.02" / "≥ 97.00%"
    detail: str
    hints: tuple[str, ...]
    warnings: tuple[str, ...]  # the counted attempt's, about the file (e.g. an unused missing import)
    attempts: tuple[AttemptRow, ...]
    log_excerpt: str
    error_text: str
    validation_accuracy: tuple[float, ...]
    graded_points: int  # what grading gave; `points` differs when staff overrode them
    override: OverrideView | None = None  # the override in force, shown on the card


# The grader's metric sentences restate the goal ("... meets the threshold (<= 0.02).") that the card's metric
# line already shows with its symbol ("goal ≤ 0.02"): the page gives the verdict alone, so the goal is said once.
GOAL_RESTATED: dict[str, str] = {
    "Final loss {value:.6f} meets the threshold ({comparison} {goal:g}).": N_("Final loss {value:.6f}: goal met."),
    "Final loss {value:.6f} misses the threshold ({comparison} {goal:g}).": N_("Final loss {value:.6f}: goal missed."),
    "Final accuracy {value:.2%} meets the threshold ({comparison} {goal:.0%}).":
        N_("Final accuracy {value:.2%}: goal met."),
    "Final accuracy {value:.2%} misses the threshold ({comparison} {goal:.0%}).":
        N_("Final accuracy {value:.2%}: goal missed."),
    "Final validation accuracy {value:.2%} meets the threshold ({comparison} {goal:.0%}).":
        N_("Final validation accuracy {value:.2%}: goal met."),
    "Final validation accuracy {value:.2%} misses the threshold ({comparison} {goal:.0%}).":
        N_("Final validation accuracy {value:.2%}: goal missed."),
}


def detail_text(item: Message | None, stored: str) -> str:
    """An attempt's detail in the reader's language, without restating the goal the page shows beside it."""
    if item is not None and item.template in GOAL_RESTATED:
        item = Message(GOAL_RESTATED[item.template], item.params)
    return render(item, stored)


def goal_text(q: QuestionResult) -> str:
    """The question's goal: '≤ 0.02' for a loss, '≥ 97.00%' for an accuracy, in the locale's notation."""
    sign = q.comparison.replace("<=", "≤").replace(">=", "≥")
    if q.metric_name == "loss":
        return f"{sign} {fmt_decimal(q.threshold)}"
    return f"{sign} {fmt_metric(q.metric_name, q.threshold)}"


def _texts(items: tuple[Message | str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(render(item) for item in items))


def _hints(q: QuestionResult) -> tuple[str, ...]:
    """The question's and the counted attempt's hints; as templates when the report holds them (then in the
    reader's language), else the stored English."""
    counted = q.counted
    if counted.hint_messages:
        return _texts(counted.hint_messages)
    return _texts((*q.hints, *counted.hints))


def question_row(q: QuestionResult, override: OverrideView | None = None) -> QuestionRow:
    """One question of a report, formatted for the result page; with `override`, the points staff set count."""
    counted = q.counted
    points = q.points if override is None else override.points
    return QuestionRow(
        question=q.question,
        title=question_title(q.title),
        points=points,
        max_points=q.max_points,
        passed=points == q.max_points,
        outcome=outcome_label(q.outcome),
        metric_name=q.metric_name,
        metric_label=metric_label(q.metric_name),
        metric=fmt_metric(q.metric_name, q.metric_value),
        goal=goal_text(q),
        detail=detail_text(counted.detail_message, counted.detail),
        hints=_hints(q),
        warnings=_texts(counted.warning_messages or counted.warnings),
        attempts=tuple(_attempt_row(i, a, q) for i, a in enumerate(q.attempts)),
        log_excerpt=counted.log_excerpt,
        error_text=_error_text(counted),
        validation_accuracy=counted.validation_accuracy,
        graded_points=q.points,
        override=override,
    )


def _attempt_row(index: int, a: Attempt, q: QuestionResult) -> AttemptRow:
    return AttemptRow(
        number=index + 1, seed=a.seed, outcome=outcome_label(a.outcome), points=a.points,
        metric=fmt_metric(q.metric_name, a.metric_value), detail=detail_text(a.detail_message, a.detail),
        wall_s=a.wall_s, cpu_s=a.cpu_s, peak_memory_mb=a.peak_memory_mb, epochs=a.epochs,
        counted=index == q.counted_attempt,
    )


def _error_text(a: Attempt) -> str:
    if a.error is None:
        return ""
    return f"{a.error.type}: {a.error.message}\n{a.error.traceback}".rstrip()


def result_page(submission: SubmissionView, data_dir: Path) -> dict[str, Any]:
    """The template context of a result page: questions, charts per question, the per-digit table."""
    report = submission.report
    # The newest override of each question counts (gradebook.policies.latest_override); the view lists those in force.
    latest: dict[str, OverrideView] = {}
    for o in sorted(submission.overrides, key=lambda o: o.id):
        latest[o.question] = o
    questions = [question_row(q, latest.get(q.question)) for q in report.questions] if report is not None else []
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
    """The live-status JSON the pages poll, its sentences in the request's language; no report inside."""
    return {
        "id": submission.id,
        "number": submission.number,
        "status": submission.status,
        "label": status_label(submission.status),
        "pending": submission.pending,
        "queue_position": submission.queue_position,
        "position_text": queue_text(submission),
        "estimated_start_s": submission.estimated_start_s,
        "detail": status_detail(submission),
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
