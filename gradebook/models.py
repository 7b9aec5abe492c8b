"""The gradebook schema: typed SQLAlchemy 2.0 models shared by the web portal, the worker and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

Role = Literal["student", "ta", "instructor"]
ROLES: tuple[Role, ...] = ("student", "ta", "instructor")

ScorePolicy = Literal["best", "latest"]
SCORE_POLICIES: tuple[ScorePolicy, ...] = ("best", "latest")

# A grading run's life: queued -> running -> done; "delayed" when an infrastructure fault put it back to
# wait for a retry; "superseded" when a newer upload replaced it before it started; "cancelled" by staff;
# "failed" when grading it failed unexpectedly too often (a bug of ours): it waits for staff to retry it.
RunStatus = Literal["queued", "running", "delayed", "done", "superseded", "cancelled", "failed"]
RUN_STATUSES: tuple[RunStatus, ...] = (
    "queued", "running", "delayed", "done", "superseded", "cancelled", "failed",
)
PENDING_STATUSES: tuple[RunStatus, ...] = ("queued", "running", "delayed")

# Why a run exists: a student's upload (served first) or a staff regrade (bulk queue).
RunPurpose = Literal["submission", "regrade"]

ChangeSetStatus = Literal["grading", "ready", "applied", "discarded"]


def utcnow() -> datetime:
    """Now as an aware UTC datetime: the only kind the gradebook stores."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store `value` in UTC; a naive datetime raises ValueError rather than being guessed."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the gradebook; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Read a stored time back as aware UTC (SQLite returns it naive)."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base: constraint names by convention (for Alembic), UTC times and JSON columns."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class User(Base):
    """An account: a student (username is the student id), a TA or an instructor, with its password hash and chosen
    language."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # the student id for students
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16), default="student")
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    locale: Mapped[str | None] = mapped_column(String(16))  # the portal's language chosen by the user, e.g. "es"

    submissions: Mapped[list[Submission]] = relationship(back_populates="user")


class Assignment(Base):
    """An assignment and its grading rules: questions, seeds, per-question limits, due and late dates, the late penalty
    in percent, the best-or-latest policy and an upload cap."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    questions: Mapped[list[Any]] = mapped_column(JSON)  # ["q1", "q2"]
    seeds: Mapped[list[Any]] = mapped_column(JSON)  # [0, 1]
    limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # question -> Limits fields
    due_at: Mapped[datetime]
    # Work after due_at and up to late_due_at is accepted with late_penalty_pct off; later work scores 0.
    late_due_at: Mapped[datetime | None]
    late_penalty_pct: Mapped[float] = mapped_column(Float, default=0.0)
    score_policy: Mapped[str] = mapped_column(String(16), default="best")
    max_submissions: Mapped[int | None]  # None: unlimited
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    submissions: Mapped[list[Submission]] = relationship(back_populates="assignment")


class Submission(Base):
    """One upload of models.py by a student to an assignment: its file by SHA-256 (SubmissionFile), whether it was late,
    and its grading runs and overrides."""

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_user_assignment", "user_id", "assignment_id", "uploaded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # the file's bytes: SubmissionFile
    filename: Mapped[str] = mapped_column(String(255), default="models.py")
    size_bytes: Mapped[int]
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by an integrity check (why the submission needs a human look); NULL while nothing is suspected.
    flag_reason: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship(back_populates="submissions")
    assignment: Mapped[Assignment] = relationship(back_populates="submissions")
    runs: Mapped[list[GradingRun]] = relationship(back_populates="submission", order_by="GradingRun.id")
    overrides: Mapped[list[Override]] = relationship(back_populates="submission", order_by="Override.id")


class SubmissionFile(Base):
    """An uploaded file's bytes, stored once per content (uploads are small: at most a few hundred KiB).

    In the database rather than on a shared filesystem, so a worker on another machine needs only the
    database and the broker. Read through `gradebook.storage.read_verified`, which checks the digest.
    """

    __tablename__ = "submission_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)


class Worker(Base):
    """A grading worker process, alive while its heartbeat is fresh; it owns the sandboxes labelled with its id.

    Liveness lives in the database, not in Redis: the broker may be wiped or restarted without losing
    anything else (the sweep repairs the queue), and a wiped liveness record would make every live worker
    look dead, so a starting worker would remove its siblings' running sandboxes.
    """

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # node/pid/start (sandbox.owner.owner_id)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    queues: Mapped[str] = mapped_column(String(200), default="")
    # Why this worker cannot grade right now (its MNIST cache, its engine, its image); None when healthy.
    problem: Mapped[str | None] = mapped_column(Text)


class CourseSettings(Base):
    """The course's own settings, one row (id 1): what instructors choose for everyone."""

    __tablename__ = "course_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    default_locale: Mapped[str] = mapped_column(String(16), default="en")  # when neither user nor browser say
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChangeSet(Base):
    """A staff regrade: runs graded in the background, reviewed as before/after, then applied or dropped."""

    __tablename__ = "change_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the filter that chose submissions
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="grading")
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Applied by nngrade itself because the regrade changed no score (gradebook.regrade.apply_if_unchanged).
    auto_applied: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    runs: Mapped[list[GradingRun]] = relationship(back_populates="change_set")


class GradingRun(Base):
    """One grading of one submission. Exactly one run per submission is `current` (the counted grade)."""

    __tablename__ = "grading_runs"
    __table_args__ = (
        Index("ix_grading_runs_status_queue", "status", "purpose", "enqueued_at"),
        Index("ix_grading_runs_submission_current", "submission_id", "current"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    purpose: Mapped[str] = mapped_column(String(16), default="submission")
    change_set_id: Mapped[int | None] = mapped_column(ForeignKey("change_sets.id"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    current: Mapped[bool] = mapped_column(Boolean, default=False)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)  # last time a task was sent for it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The claim: a worker owns the run while its token is set and its heartbeat is fresh.
    claim_token: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    deliveries: Mapped[int] = mapped_column(Integer, default=0)  # claims made, including after a lost worker
    infra_failures: Mapped[int] = mapped_column(Integer, default=0)
    delay_reason: Mapped[str | None] = mapped_column(Text)  # shown as "grading delayed"
    # Unexpected failures (an exception of ours, a worker dying on this run); `failure` holds the last
    # traceback. Too many and the run is "failed" until staff retry it.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(255))  # the worker of the current (or last) claim
    retry_at: Mapped[datetime | None]
    total_points: Mapped[int | None]
    max_points: Mapped[int | None]
    wall_s: Mapped[float | None]
    runner: Mapped[str | None] = mapped_column(String(16))
    image_digest: Mapped[str | None] = mapped_column(String(128))
    kit_version: Mapped[str | None] = mapped_column(String(32))
    numpy_version: Mapped[str | None] = mapped_column(String(32))
    python_version: Mapped[str | None] = mapped_column(String(32))
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the full Report.to_dict()

    submission: Mapped[Submission] = relationship(back_populates="runs")
    change_set: Mapped[ChangeSet | None] = relationship(back_populates="runs")
    questions: Mapped[list[QuestionRecord]] = relationship(
        back_populates="run", order_by="QuestionRecord.question", cascade="all, delete-orphan"
    )


class QuestionRecord(Base):
    """A question's result, stored as soon as it is known so a killed job keeps what finished."""

    __tablename__ = "question_results"
    __table_args__ = (UniqueConstraint("run_id", "question"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(32))
    points: Mapped[int]
    max_points: Mapped[int]
    metric_name: Mapped[str] = mapped_column(String(32), default="")
    metric_value: Mapped[float | None]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)  # QuestionResult as a dict (asdict)

    run: Mapped[GradingRun] = relationship(back_populates="questions")
    attempts: Mapped[list[AttemptRecord]] = relationship(
        back_populates="question_result", order_by="AttemptRecord.number", cascade="all, delete-orphan"
    )


class AttemptRecord(Base):
    """One attempt of a graded question as columns, for the dashboard's queries: seed, outcome, points, metric, seconds,
    peak memory in MB (the full attempt is in the run's report)."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("question_result_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_result_id: Mapped[int] = mapped_column(ForeignKey("question_results.id", ondelete="CASCADE"))
    number: Mapped[int]  # 0-based position in QuestionResult.attempts
    seed: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(32))
    points: Mapped[int]
    metric_value: Mapped[float | None]
    wall_s: Mapped[float]
    cpu_s: Mapped[float]
    peak_memory_mb: Mapped[float]
    image_digest: Mapped[str | None] = mapped_column(String(128))
    kit_version: Mapped[str | None] = mapped_column(String(32))
    numpy_version: Mapped[str | None] = mapped_column(String(32))
    log_excerpt: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)

    question_result: Mapped[QuestionRecord] = relationship(back_populates="attempts")


class Override(Base):
    """A manual score for one question of one submission; the newest override for a question wins."""

    __tablename__ = "overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    question: Mapped[str] = mapped_column(String(32))
    points: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    submission: Mapped[Submission] = relationship(back_populates="overrides")
    author: Mapped[User] = relationship()
