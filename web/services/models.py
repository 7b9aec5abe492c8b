"""What the pages show where the gradebook's rows lack the shape: derived states, numbers, joined names.

Plain frozen records, built by the query modules (web/*/queries.py) from the request's session, so that
templates never touch a session that teardown has closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from gradebook.models import User
from grader.messages import Message
from grader.report import Report

Role = Literal["student", "ta", "instructor"]
ROLES: tuple[Role, ...] = ("student", "ta", "instructor")
STAFF_ROLES: frozenset[str] = frozenset({"ta", "instructor"})
# Submission states the pages know; anything else from the store is shown as it is.
PENDING_STATES: frozenset[str] = frozenset({"queued", "running"})


@dataclass(frozen=True)
class UserView:
    """Who is signed in, or whom a staff page is about."""

    id: int
    username: str
    display_name: str
    role: Role
    must_change_password: bool = False
    locale: str | None = None  # the language the user chose; None: browser, then course default

    @property
    def is_staff(self) -> bool:
        """TAs and instructors."""
        return self.role in STAFF_ROLES


def user_view(user: User) -> UserView:
    """The page's record of a gradebook account; an unknown role is treated as a student's."""
    role: Role = next((r for r in ROLES if r == user.role), "student")
    return UserView(id=user.id, username=user.username, display_name=user.name or user.username, role=role,
                    must_change_password=user.must_change_password, locale=user.locale)


@dataclass(frozen=True)
class RegradeView:
    """A staff regrade of one submission: its state, what it graded, and what counts with the overrides in force."""

    change_set_id: int
    state: str  # as status_label knows it: queued, running, graded, cancelled, ...
    graded_points: int | None  # the regrade's own total; None until graded
    counted_points: int | None  # the total with the overrides in force: what counts once applied
    applied: bool  # the regrade's run is the submission's counted one


@dataclass(frozen=True)
class SubmissionView:
    """A submission as its student sees it: derived state, number, queue position, counted points."""

    id: int
    user_id: int
    username: str
    number: int  # 1 for the student's first upload
    filename: str
    sha256: str
    size_bytes: int
    status: str  # queued, running, graded, failed, ...
    created_at: datetime
    # The grading of the student's upload (never a staff regrade's, which is `regraded_at`).
    started_at: datetime | None = None
    finished_at: datetime | None = None
    regraded_at: datetime | None = None  # when the counted result came from a staff regrade: its finish
    points: int | None = None
    max_points: int | None = None
    queue_position: int | None = None  # 1 = next to run; None when not queued
    status_detail: Message | str = ""  # e.g. the question being graded, or why grading failed
    estimated_start_s: float | None = None  # queued: seconds until grading likely starts, None if unknown
    report: Report | None = None
    late: bool = False
    overrides: tuple[OverrideView, ...] = ()
    regrades: tuple[RegradeView, ...] = ()
    assignment_slug: str = ""
    assignment_title: str = ""
    questions: tuple[str, ...] = ()  # the assignment's, in order

    @property
    def pending(self) -> bool:
        """Queued or running."""
        return self.status in PENDING_STATES


@dataclass(frozen=True)
class UploadAllowance:
    """Whether an upload is allowed now, and the sentence that says when otherwise."""

    allowed: bool
    message: Message | str = ""
    next_allowed_at: datetime | None = None


@dataclass(frozen=True)
class OverrideView:
    """An override with the names and numbers printed beside it."""

    id: int
    user_id: int
    username: str
    submission_id: int
    submission_number: int
    question: str
    points: int
    max_points: int
    reason: str
    actor: str
    created_at: datetime


@dataclass(frozen=True)
class GradeView:
    """A student's grade for one assignment under its policy."""

    points: float | None  # after the late penalty
    max_points: int
    policy: str  # "best" or "latest", as the assignment says
    submission_id: int | None = None
    overrides: tuple[OverrideView, ...] = ()
    late_note: Message | str = ""


@dataclass(frozen=True)
class StudentRow:
    """One student's line on the dashboard."""

    user: UserView
    points: float | None
    max_points: int
    submissions: int
    last_activity: datetime | None
    status: str  # the latest submission's status, or "none"
    latest_submission_id: int | None = None
    counted_submission_id: int | None = None
    overridden: bool = False
    flagged: bool = False  # a submission of theirs carries an integrity check's flag_reason


@dataclass(frozen=True)
class QueueHealth:
    """The queue as the dashboard shows it; waits in seconds."""

    depth: int
    running: int
    workers: int | None  # None when the broker cannot be asked
    oldest_wait_s: float | None
    median_wait_s: float | None
    delayed: int = 0
    queued_regrades: int = 0
    failed: int = 0  # runs that failed unexpectedly too often: staff retry them (`nngrade retry RUN`)
    failed_runs: tuple[tuple[int, str, str], ...] = ()  # (run id, username, last line of the failure)
    typical_run_s: float | None = None  # median duration of recently graded runs
    next_start_s: float | None = None  # when the next queued student submission likely starts grading
    last_start_s: float | None = None  # when the last one in the student queue likely starts
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class RunSummary:
    """What the dashboard's charts need from one graded run, without its full report."""

    run_id: int
    wall_s: float | None
    questions: tuple[tuple[str, str, float | None], ...]  # (question, outcome, metric value)


@dataclass(frozen=True)
class AuditEntry:
    """One staff action for the audit log."""

    created_at: datetime
    actor: str | None  # None: the system (a regrade started from the command line has no author)
    action: Message | str
    detail: tuple[Message, ...] = ()  # sentences in the reader's language
    reason: str = ""  # staff's own words, shown as written
    submission_id: int | None = None  # the submission it is about, linked
    submission_label: str = ""  # "s1002 #1": the student and the number the student sees
