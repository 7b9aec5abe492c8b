"""The grade report: frozen results per attempt, per question and per submission, as versioned JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from grader import SCHEMA_VERSION
from grader.messages import Message, parse_message

# The closed set of attempt outcomes, decided on the host.
Outcome = Literal[
    "passed",  # sanity checks and threshold met
    "below_threshold",  # sanity checks passed, metric missed the threshold
    "diverged",  # training produced NaN or infinity
    "failed_check",  # a sanity or consistency check failed (shape, new parameters, hard-coded loss)
    "error",  # an exception in the student's code (syntax, import, missing class, raise in train)
    "timeout",
    "out_of_memory",
    "crashed",  # the process died without reporting (signal, early exit)
    "bad_output",  # output limit exceeded or a malformed/forged report
    "infrastructure_error",  # not the student's fault; not gradable, retried by the service
]
OUTCOMES: tuple[Outcome, ...] = (
    "passed", "below_threshold", "diverged", "failed_check", "error", "timeout", "out_of_memory",
    "crashed", "bad_output", "infrastructure_error",
)
# Where an attempt was when it ended: the stages of `grader.attempt`, in order, then "done".
Stage = Literal["import", "build", "sanity", "train", "evaluate", "done"]
STAGES: tuple[Stage, ...] = ("import", "build", "sanity", "train", "evaluate", "done")
# What a question is scored on: q1 its training points; q2 the held-out test images, or the validation
# images where the test labels are not available (the starter kit).
ScoredOn = Literal["training", "test", "validation"]

Comparison = Literal["<=", ">="]


@dataclass(frozen=True)
class ErrorInfo:
    type: str
    message: str
    traceback: str  # trimmed to the student's frames and the kit's


# How the model's prediction of the integrity check's copy ended (grader.integrity): "ok", or why there is none.
CopyStatus = Literal["ok", "error", "failed_check", "timeout", "out_of_memory", "crashed", "bad_output", "missing"]
COPY_STATUSES: tuple[CopyStatus, ...] = (
    "ok", "error", "failed_check", "timeout", "out_of_memory", "crashed", "bad_output", "missing",
)


@dataclass(frozen=True)
class IntegrityCheck:
    """For staff only: the trained model's accuracy on the graded images and on a copy it could not anticipate.

    `flagged` asks a human to review the submission; it never changes points. Accuracies are fractions; `gap` is
    graded minus copy accuracy, flagged above `threshold` (the one that applied: lower when only the graded images
    pass the question), or when the copy was not predicted (`copy_status`).
    `agreement` is the fraction of copy images predicted as their original was. `copy` holds the copy's
    parameters (grader.challenge.CopyKey.describe), `copy_cpu_s` what the sandbox said the copy's prediction took.
    """

    flagged: bool
    reason: str  # one sentence for staff; empty when not flagged
    graded_accuracy: float
    copy_accuracy: float | None
    gap: float | None
    threshold: float
    copy_status: CopyStatus
    copy_detail: str = ""  # why the copy was not predicted, in the attempt's words
    agreement: float | None = None
    copy: Mapping[str, Any] = field(default_factory=dict)
    copy_cpu_s: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntegrityCheck:
        return cls(**{**data, "copy": dict(data.get("copy", {}))})


@dataclass(frozen=True)
class Attempt:
    seed: int
    outcome: Outcome
    points: int
    sanity_passed: bool
    metric_value: float | None
    detail: str  # one sentence saying what happened, for the student
    wall_s: float
    cpu_s: float
    peak_memory_mb: float
    log_excerpt: str = ""
    error: ErrorInfo | None = None
    hints: tuple[str, ...] = ()
    epochs: int | None = None
    validation_accuracy: tuple[float, ...] = ()
    # q1: the 200 predictions in dataset order; q2: the predicted digit per test image. Kept for feedback
    # pictures; empty when the attempt did not get that far.
    predictions: tuple[float, ...] = ()
    # About the file rather than the outcome, e.g. "line 3 imports `click`, which is not available here;
    # unused, so ignored". Reports older than this field have none.
    warnings: tuple[str, ...] = ()
    # The limits the attempt ran under: CPU seconds (what counts) and the wall-clock backstop.
    cpu_limit_s: float | None = None
    wall_limit_s: float | None = None
    # The stage the attempt was in when it ended (None when it never started: an infrastructure fault).
    stage: Stage | None = None
    # The class of the loss node get_loss() returned in the sanity checks, when they passed.
    loss_node: str | None = None
    # The detail, hints and warnings as templates with values (grader.messages), so that readers see them in
    # their language; the English fields above stay the record. Absent in reports made before them.
    detail_message: Message | None = None
    hint_messages: tuple[Message, ...] = ()
    warning_messages: tuple[Message, ...] = ()
    # q2 on the test images: the integrity check, for staff only (never in the student's feedback or Gradescope's
    # output). None where no copy was predicted: other questions, the validation split, attempts cut short.
    integrity: IntegrityCheck | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attempt:
        fields = dict(data)
        error = fields.get("error")
        fields["error"] = ErrorInfo(**error) if error else None
        integrity = fields.get("integrity")
        fields["integrity"] = IntegrityCheck.from_dict(integrity) if integrity else None
        for key in ("hints", "validation_accuracy", "predictions", "warnings"):
            fields[key] = tuple(fields.get(key, ()))
        fields["detail_message"] = parse_message(fields.get("detail_message"))
        for key, english in (("hint_messages", "hints"), ("warning_messages", "warnings")):
            parsed = tuple(parse_message(m) for m in fields.get(key) or ())
            # One unsound entry and the whole list is read in English, so the two lists never disagree.
            sound = len(parsed) == len(fields[english]) and all(m is not None for m in parsed)
            fields[key] = tuple(m for m in parsed if m is not None) if sound else ()
        return cls(**fields)


@dataclass(frozen=True)
class QuestionResult:
    question: str
    title: str
    points: int
    max_points: int
    outcome: Outcome
    metric_name: str
    metric_value: float | None
    threshold: float
    comparison: Comparison
    attempts: tuple[Attempt, ...]
    counted_attempt: int  # index into attempts
    hints: tuple[str, ...] = ()
    scored_on: ScoredOn = "test"

    @property
    def counted(self) -> Attempt:
        return self.attempts[self.counted_attempt]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuestionResult:
        fields = dict(data)
        fields["attempts"] = tuple(Attempt.from_dict(a) for a in data["attempts"])
        fields["hints"] = tuple(data.get("hints", ()))
        # Results stored before the field existed: q1 (the loss) was always scored on its training points.
        fields.setdefault("scored_on", "training" if data.get("metric_name") == "loss" else "test")
        return cls(**fields)


@dataclass(frozen=True)
class Environment:
    runner: str  # "local" or "docker"
    python_version: str
    numpy_version: str
    kit_version: str
    image_digest: str | None = None


@dataclass(frozen=True)
class Report:
    submission_sha256: str
    submission_name: str
    environment: Environment
    config: Mapping[str, Any]
    questions: tuple[QuestionResult, ...]
    wall_s: float
    schema: str = SCHEMA_VERSION
    # True when an infrastructure fault decided some question: the grade must not count against the student.
    gradable: bool = field(default=True)

    @property
    def total_points(self) -> int:
        return sum(q.points for q in self.questions)

    @property
    def max_points(self) -> int:
        return sum(q.max_points for q in self.questions)

    @property
    def flag_reason(self) -> str | None:
        """Why staff should review this submission (every flagged attempt's reason), or None. Staff only."""
        reasons = [f"{q.question} attempt {number} (seed {a.seed}): {a.integrity.reason}"
                   for q in self.questions for number, a in enumerate(q.attempts, start=1)
                   if a.integrity is not None and a.integrity.flagged]
        return " ".join(reasons) if reasons else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["config"] = dict(self.config)
        data["total_points"] = self.total_points
        data["max_points"] = self.max_points
        # Put the schema first so a reader sees the version before anything else.
        return {"schema": data.pop("schema"), **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"unsupported report schema {data.get('schema')!r}; expected {SCHEMA_VERSION!r}")
        return cls(
            submission_sha256=data["submission_sha256"],
            submission_name=data["submission_name"],
            environment=Environment(**data["environment"]),
            config=data["config"],
            questions=tuple(QuestionResult.from_dict(q) for q in data["questions"]),
            wall_s=data["wall_s"],
            gradable=data.get("gradable", True),
        )


GRADESCOPE_STATUS = {True: "passed", False: "failed"}


def to_gradescope(report: Report, visibility: str = "visible") -> dict[str, Any]:
    """Gradescope's results.json: one test per question with its feedback as output."""
    tests: list[dict[str, Any]] = []
    for number, q in enumerate(report.questions, start=1):
        tests.append({
            "name": f"{q.question}: {q.title}",
            "number": str(number),
            "score": q.points,
            "max_score": q.max_points,
            "status": GRADESCOPE_STATUS[q.points == q.max_points],
            "output": question_feedback(q),
            "tags": [q.question, q.outcome],
            "visibility": visibility,
        })
    return {
        "score": report.total_points,
        "execution_time": round(report.wall_s, 3),
        "output": f"{report.total_points}/{report.max_points} points (graded by nngrade, "
                  f"{report.environment.runner} runner)",
        "output_format": "text",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "extra_data": {"nngrade_schema": report.schema, "gradable": report.gradable},
        "tests": tests,
    }


def question_feedback(q: QuestionResult) -> str:
    lines = [f"{q.points}/{q.max_points} points: {q.counted.detail}"]
    for i, a in enumerate(q.attempts, start=1):
        metric = "" if a.metric_value is None else f", {q.metric_name} {a.metric_value:.6g}"
        lines.append(f"attempt {i} (seed {a.seed}): {a.outcome}{metric}")
    if q.counted.error is not None:
        lines.append(q.counted.error.traceback.rstrip())
    lines.extend(f"hint: {h}" for h in q.hints)
    lines.extend(f"warning: {w}" for w in q.counted.warnings)
    return "\n".join(lines)


def format_metric(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if name == "accuracy" else f"{value:.6f}"


def summarize(questions: Sequence[QuestionResult]) -> str:
    return ", ".join(f"{q.question} {q.points}/{q.max_points}" for q in questions)
