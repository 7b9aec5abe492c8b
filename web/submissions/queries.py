"""What the submission pages read: a submission as the student sees it, its live status, a grade, an allowance.

Functions take the request's session (web.db) and return the view records of web/services/models.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, Protocol, TypeVar

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session, aliased, defer, selectinload

from gradebook import policies, storage
from gradebook.models import Assignment, GradingRun, Override, QuestionRecord, Submission, User, utcnow
from gradebook.submissions import UploadDecision, UploadLimits, check_upload
from gradebook.workers import live_workers
from grader.messages import N_, Message, message
from grader.questions import get_question
from grader.report import Report
from web.services.eta import Throughput, estimated_start_s, live_slots, typical_duration_s
from web.services.history import HistoryPoint, QuestionHistory
from web.services.models import GradeView, OverrideView, RegradeView, SubmissionView, UploadAllowance

# A failed run waits for staff: to the student it is still waiting, never an error of theirs.
RUN_STATE = {"queued": "queued", "delayed": "queued", "running": "running", "done": "graded",
             "superseded": "superseded", "cancelled": "cancelled", "failed": "queued"}
_WAITING = ("queued", "delayed")
_DELAYED = message(N_("Grading delayed by a problem on our side; it will be retried automatically."))
_FAILED = message(N_("Grading hit a problem on our side; staff have been told and will grade it again."))
_SUPERSEDED = message(N_("A newer upload replaced this one before grading started."))
_RUNNING = message(N_("Training and checking your models"))
# Recent graded runs whose durations make the typical run for the estimates.
RECENT_DURATIONS = 50


# A worker whose heartbeat is older than this is not counted (the workers' own lease, worker.options).
WORKER_LEASE_S = 60.0


def grading_capacity(session: Session) -> tuple[int, int]:
    """(live workers, their grading processes): workers with a fresh heartbeat in the gradebook, and the sum
    of the concurrency of those that are healthy (a worker with a problem takes no task)."""
    live = live_workers(session, WORKER_LEASE_S)
    return len(live), sum(w.concurrency for w in live if w.problem is None)


def throughput(session: Session, workers: int | None) -> Throughput:
    """The queue's measured pace: the median duration of recent graded runs, how long the running runs have
    been running, and the live slots (`workers`: grading processes that can take work, None if unknown)."""
    now = utcnow()
    recent = session.execute(
        select(GradingRun.started_at, GradingRun.finished_at)
        .where(GradingRun.status == "done", GradingRun.started_at.is_not(None), GradingRun.finished_at.is_not(None))
        .order_by(GradingRun.enqueued_at.desc()).limit(RECENT_DURATIONS)).all()
    started = session.scalars(select(GradingRun.started_at).where(GradingRun.status == "running")).all()
    elapsed = tuple(max(0.0, (now - t).total_seconds()) for t in started if t is not None)
    return Throughput(
        typical_run_s=typical_duration_s([(f - s).total_seconds() for s, f in recent if s and f]),
        running_elapsed_s=elapsed,
        slots=live_slots(workers, len(started)),
    )


def submission(session: Session, submission_id: int, pace: Throughput | None = None) -> SubmissionView | None:
    """The submission with its counted report and overrides (the result page), or None. With `pace`, a
    queued submission carries its estimated start."""
    row = session.scalar(select(Submission).where(Submission.id == submission_id).options(*_loads()))
    if row is None:
        return None
    return _view(session, row, with_report=True, pace=pace)


def submissions_of(session: Session, user_id: int, assignment_id: int,
                   pace: Throughput | None = None) -> list[SubmissionView]:
    """The user's submissions to one assignment, newest first, without reports."""
    rows = session.scalars(
        select(Submission).where(Submission.user_id == user_id, Submission.assignment_id == assignment_id)
        .options(*_loads()).order_by(Submission.id.desc())).all()
    # Numbers count in upload order; all of them are here, so no query per row.
    numbers = {s.id: len(rows) - i for i, s in enumerate(rows)}
    return [_view(session, s, with_report=False, number=numbers[s.id], pace=pace) for s in rows]


def submission_status(session: Session, submission_id: int, pace: Throughput | None = None) -> SubmissionView | None:
    """The cheap view the live pages poll: one statement, no report, no overrides."""
    rows = session.execute(_status_statement(), {"submission_id": submission_id}).all()
    if not rows:
        return None
    s = rows[0]
    runs = [r for r in rows if r.status is not None]  # the outer join gives one empty row for no runs
    state, run = pick_run(runs)
    current = next((r for r in runs if r.current), None)
    position = None
    detail: Message | str = ""
    if run is not None and run.status in _WAITING:
        position = 1 + (run.waiting_before or 0)
        detail = _DELAYED if run.status == "delayed" else ""
    elif run is not None and run.status == "failed":
        detail = _FAILED
    elif run is not None and run.status == "running":
        detail = _RUNNING
    elif state == "superseded":
        detail = _SUPERSEDED
    points = current.total_points if current is not None and current.status == "done" else None
    if points is not None and s.has_overrides:
        full = submission(session, submission_id)  # rare: the counted points with the overrides in force
        points = full.points if full is not None else points
    started_at, finished_at, regraded_at = _timing(runs, run, current)
    return SubmissionView(
        id=s.id, user_id=s.user_id, username=s.username, number=s.number or 1, filename=s.filename,
        sha256=s.sha256, size_bytes=s.size_bytes, status=state, created_at=s.uploaded_at,
        started_at=started_at, finished_at=finished_at, regraded_at=regraded_at, points=points,
        max_points=current.max_points if current is not None else None,
        queue_position=position, status_detail=detail, late=s.late,
        estimated_start_s=_estimate(position, pace),
    )


class _TimedRun(Protocol):
    @property
    def purpose(self) -> str: ...

    @property
    def started_at(self) -> datetime | None: ...

    @property
    def finished_at(self) -> datetime | None: ...


def _timing(runs: Sequence[_TimedRun], shown: _TimedRun | None,
            current: _TimedRun | None) -> tuple[datetime | None, datetime | None, datetime | None]:
    """(started, finished, regraded): when the grading of the student's own upload started and finished (a
    staff regrade is not the student's doing), and when a regrade whose result counts finished."""
    own = [r for r in runs if r.purpose == "submission"]
    timed = own[-1] if own else shown
    regraded_at = current.finished_at if current is not None and current.purpose == "regrade" else None
    if timed is None:
        return None, None, regraded_at
    return timed.started_at, timed.finished_at, regraded_at


def _estimate(position: int | None, pace: Throughput | None) -> float | None:
    if position is None or pace is None:
        return None
    return estimated_start_s(position - 1, pace)


def source_bytes(session: Session, submission_id: int) -> bytes | None:
    """The uploaded file as stored (digest verified), or None when missing or damaged."""
    digest = session.scalar(select(Submission.sha256).where(Submission.id == submission_id))
    if digest is None:
        return None
    try:
        return storage.read_verified(session, digest)
    except OSError:
        return None


def current_grade(session: Session, user_id: int, assignment: Assignment) -> GradeView:
    """The user's grade for the assignment under its policy, with the late penalty and overrides."""
    subs = list(session.scalars(
        select(Submission).where(Submission.user_id == user_id, Submission.assignment_id == assignment.id)
        .options(selectinload(Submission.runs).options(defer(GradingRun.report))
                 .selectinload(GradingRun.questions).options(defer(QuestionRecord.result)),
                 selectinload(Submission.overrides).selectinload(Override.author),
                 selectinload(Submission.user))))
    chosen = policies.final_submission(assignment, subs)
    max_points = max_points_of(assignment)
    if chosen is None:
        return GradeView(points=None, max_points=max_points, policy=assignment.score_policy)
    note: Message | str = ""
    if chosen.factor < 1.0:
        whole = float(assignment.late_penalty_pct).is_integer()
        note = message(N_("Counted late: {penalty:.0%} off ({kept:.0%} of the points kept).") if whole else
                       N_("Counted late: {penalty:.1%} off ({kept:.1%} of the points kept)."),
                       penalty=assignment.late_penalty_pct / 100, kept=chosen.factor)
    live = [o for o in chosen.submission.overrides if not o.revoked]
    return GradeView(points=round(chosen.total, 2), max_points=chosen.max_points or max_points,
                     policy=assignment.score_policy, submission_id=chosen.submission.id,
                     overrides=tuple(override_view(session, o, chosen.submission) for o in live), late_note=note)


def upload_allowance(session: Session, user: User, assignment: Assignment, limits: UploadLimits) -> UploadAllowance:
    """Whether the user may upload to the assignment now, and the sentence that says when otherwise."""
    return allowance(check_upload(session, user, assignment, limits))


def allowance(decision: UploadDecision) -> UploadAllowance:
    """The page's form of a gradebook upload decision: the reason plus when the next upload is allowed."""
    if decision.allowed:
        return UploadAllowance(True)
    return UploadAllowance(False, decision.message or decision.reason, decision.next_allowed_at)


def override_view(session: Session, o: Override, s: Submission) -> OverrideView:
    """An override with what the pages print beside it: the student, the submission's number, the maximum."""
    return OverrideView(id=o.id, user_id=s.user_id, username=s.user.username, submission_id=s.id,
                        submission_number=number_of(session, s), question=o.question, points=o.points,
                        max_points=get_question(o.question).max_points, reason=o.reason, actor=o.author.username,
                        created_at=o.created_at)


def max_points_of(assignment: Assignment) -> int:
    """The assignment's total: the sum of its questions' maxima."""
    return sum(get_question(q).max_points for q in assignment.questions)


class _RunLike(Protocol):
    @property
    def purpose(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def current(self) -> bool: ...


RunT = TypeVar("RunT", bound=_RunLike)


def pick_run(runs: Sequence[RunT]) -> tuple[str, RunT | None]:
    """The student's view of a submission (state, run): its newest own run, or the current one once graded."""
    own = [r for r in runs if r.purpose == "submission"]
    latest = own[-1] if own else None
    current = next((r for r in runs if r.current), None)
    if latest is None:
        return ("graded", current) if current is not None else ("none", None)
    if latest.status == "done" and current is not None:
        return "graded", current
    return RUN_STATE.get(latest.status, latest.status), latest


def _loads() -> tuple[Any, ...]:
    # Reports are large JSON; only the current run's is read, and only by the result page.
    return (selectinload(Submission.runs).options(defer(GradingRun.report)), selectinload(Submission.user),
            selectinload(Submission.assignment), selectinload(Submission.overrides).selectinload(Override.author))


@cache
def _status_statement() -> Any:
    """The submission, its owner's name, its number and its runs (one row each), with the queue position
    of any waiting run: one statement on the primary key and the two queue indexes. Built once, because
    building it (the aliases) costs more than running it."""
    earlier = aliased(Submission)
    ahead = aliased(GradingRun)
    number = (select(func.count()).select_from(earlier)
              .where(earlier.user_id == Submission.user_id, earlier.assignment_id == Submission.assignment_id,
                     earlier.id <= Submission.id).scalar_subquery())
    waiting_before = (select(func.count()).select_from(ahead)
                      .where(ahead.status.in_(_WAITING), ahead.purpose == "submission",
                             ahead.enqueued_at < GradingRun.enqueued_at).scalar_subquery())
    has_overrides = (select(Override.id).where(Override.submission_id == Submission.id, Override.revoked.is_(False))
                     .exists())
    return (select(Submission.id, Submission.user_id, User.username, Submission.filename, Submission.sha256,
                   Submission.size_bytes, Submission.uploaded_at, Submission.late, number.label("number"),
                   GradingRun.purpose, GradingRun.status, GradingRun.current, GradingRun.started_at,
                   GradingRun.finished_at, GradingRun.total_points, GradingRun.max_points,
                   GradingRun.change_set_id, has_overrides.label("has_overrides"),
                   case((GradingRun.status.in_(_WAITING), waiting_before)).label("waiting_before"))
            .join(User, User.id == Submission.user_id)
            .outerjoin(GradingRun, GradingRun.submission_id == Submission.id)
            .where(Submission.id == bindparam("submission_id"))
            .order_by(GradingRun.id))


def _view(session: Session, s: Submission, *, with_report: bool, number: int | None = None,
          pace: Throughput | None = None) -> SubmissionView:
    state, run = pick_run(s.runs)
    current = policies.current_run(s)
    position = None
    detail: Message | str = ""
    if run is not None and run.status in _WAITING:
        position = 1 + (session.scalar(
            select(func.count()).select_from(GradingRun).where(
                GradingRun.status.in_(_WAITING), GradingRun.purpose == "submission",
                GradingRun.enqueued_at < run.enqueued_at)) or 0)
        detail = _DELAYED if run.status == "delayed" else ""
    elif run is not None and run.status == "failed":
        detail = _FAILED
    elif run is not None and run.status == "running":
        done = list(run.questions) if with_report else []
        detail = message(N_("Training and checking your models ({questions} done)"),
                         questions=", ".join(q.question for q in done)) if done else _RUNNING
    elif state == "superseded":
        detail = _SUPERSEDED
    report = None
    if with_report and current is not None:
        stored = session.scalar(select(GradingRun.report).where(GradingRun.id == current.id))
        if stored:
            try:
                report = Report.from_dict(stored)
            except (ValueError, TypeError, KeyError):
                detail = message(N_("The stored report could not be read; ask a TA."))
    points = current.total_points if current is not None and current.status == "done" else None
    live = [o for o in s.overrides if not o.revoked]
    if points is not None and live and current is not None:
        points = _with_overrides(_question_points(current), live)
    started_at, finished_at, regraded_at = _timing(s.runs, run, current)
    return SubmissionView(
        id=s.id, user_id=s.user_id, username=s.user.username, number=number or number_of(session, s),
        filename=s.filename, sha256=s.sha256, size_bytes=s.size_bytes, status=state, created_at=s.uploaded_at,
        started_at=started_at, finished_at=finished_at, regraded_at=regraded_at,
        points=points, max_points=current.max_points if current is not None else None,
        queue_position=position, status_detail=detail, report=report, late=s.late,
        estimated_start_s=_estimate(position, pace),
        overrides=tuple(override_view(session, o, s) for o in live),
        regrades=tuple(_regrade_view(r, live) for r in s.runs if r.purpose == "regrade"),
        assignment_slug=s.assignment.slug, assignment_title=s.assignment.title,
        questions=tuple(s.assignment.questions),
    )


def _regrade_view(run: GradingRun, live: Sequence[Override]) -> RegradeView:
    """A regrade run as staff review it: its own total, and the total that counts with the overrides in force."""
    graded = run.total_points if run.status == "done" else None
    counted = None if graded is None else _with_overrides(_question_points(run), live)
    return RegradeView(change_set_id=run.change_set_id or 0, state=RUN_STATE.get(run.status, run.status),
                       graded_points=graded, counted_points=counted, applied=run.current)


def _with_overrides(question_points: dict[str, int], live: Sequence[Override]) -> int:
    """The total of `question_points` with the newest override in force of each question in its place (as
    gradebook.policies scores it)."""
    raw = dict(question_points)
    for question in {o.question for o in live}:
        chosen = policies.latest_override(live, question)
        if chosen is not None:
            raw[question] = chosen.points
    return sum(raw.values())


def _question_points(run: GradingRun) -> dict[str, int]:
    if run.report:
        return {q["question"]: int(q["points"]) for q in run.report.get("questions", [])}
    return {q.question: q.points for q in run.questions}


def numbers_of(session: Session, submission_ids: set[int]) -> dict[int, int]:
    """The number each submission has for its student (1 for their first upload to the assignment), in one
    statement; unknown ids are left out."""
    if not submission_ids:
        return {}
    number = func.row_number().over(partition_by=(Submission.user_id, Submission.assignment_id),
                                    order_by=Submission.id)
    owners = select(Submission.user_id).where(Submission.id.in_(submission_ids))
    numbered = select(Submission.id, number.label("number")).where(Submission.user_id.in_(owners)).subquery()
    rows = session.execute(select(numbered.c.id, numbered.c.number).where(numbered.c.id.in_(submission_ids)))
    return {submission_id: n for submission_id, n in rows}


def number_of(session: Session, s: Submission) -> int:
    """The submission's number as its student sees it: 1 for their first upload to the assignment."""
    return session.scalar(select(func.count()).select_from(Submission).where(
        Submission.user_id == s.user_id, Submission.assignment_id == s.assignment_id,
        Submission.id <= s.id)) or 1



def question_history(session: Session, user_id: int, assignment: Assignment) -> list[QuestionHistory]:
    """Per question of the assignment, the counted result of each of the user's graded submissions, oldest
    first (for the progress charts)."""
    numbers = {sid: n for n, sid in enumerate(session.scalars(
        select(Submission.id).where(Submission.user_id == user_id, Submission.assignment_id == assignment.id)
        .order_by(Submission.id)).all(), start=1)}
    rows = session.execute(
        select(Submission.id, Submission.uploaded_at, QuestionRecord.question, QuestionRecord.outcome,
               QuestionRecord.points, QuestionRecord.max_points, QuestionRecord.metric_value)
        .join(GradingRun, GradingRun.submission_id == Submission.id)
        .join(QuestionRecord, QuestionRecord.run_id == GradingRun.id)
        .where(Submission.user_id == user_id, Submission.assignment_id == assignment.id,
               GradingRun.current.is_(True), GradingRun.status == "done")
        .order_by(Submission.id)).all()
    # The points that count are the staff's where an override is in force, as on the submission's page.
    overrides = session.scalars(select(Override).join(Submission).where(
        Submission.user_id == user_id, Submission.assignment_id == assignment.id, Override.revoked.is_(False))).all()
    by_submission: dict[int, list[Override]] = {}
    for o in overrides:
        by_submission.setdefault(o.submission_id, []).append(o)

    def counted(submission_id: int, question_id: str, graded: int) -> int:
        chosen = policies.latest_override(by_submission.get(submission_id, ()), question_id)
        return graded if chosen is None else chosen.points

    histories: list[QuestionHistory] = []
    for question_id in assignment.questions:
        question = get_question(question_id)
        histories.append(QuestionHistory(
            question=question_id, metric_name=question.metric_name, threshold=question.threshold,
            comparison=question.comparison,
            points=tuple(HistoryPoint(numbers.get(r.id, 0), r.uploaded_at, r.outcome,
                                      counted(r.id, question_id, r.points), r.max_points, r.metric_value)
                         for r in rows if r.question == question_id)))
    return histories
