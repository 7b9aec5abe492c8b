"""Thin tasks that take ids: claim the run, grade it with the one grading loop storing each question, finish once.

Faults are sorted before anything is stored: an infrastructure fault (engine, database, stored file,
MNIST cache, harness) delays the run with backoff, and any other exception of ours is recorded with its
traceback and retried, until the run has failed `max_failures` times and waits for staff. Neither is ever
recorded as the student's result.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from gradebook.assignments import grading_config
from gradebook.db import transaction
from gradebook.models import GradingRun, utcnow
from gradebook.retries import backoff_s, mark_delayed, record_failure
from gradebook.runs import claim_run, finish_run, heartbeat, record_question, recorded_questions
from gradebook.storage import read_verified
from grader.config import AssignmentConfig
from grader.grading import grade_submission
from grader.report import Environment, QuestionResult
from worker.context import ProcessContext
from worker.options import TASK_NAME

logger = logging.getLogger(__name__)


class InfrastructureFault(Exception):
    """Not the student's fault: the engine, the database or the file store failed. Retried with backoff."""


def register_tasks(app: Any) -> None:
    """Register the grading task on `app` with this process's context (database, runner); the task takes
    a run id only."""
    context = ProcessContext(app.nngrade_settings, app.nngrade_options, getattr(app, "nngrade_worker_id", None))
    app.nngrade_context = context

    @app.task(  # type: ignore[untyped-decorator]  # celery is untyped
        name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def grade_run(run_id: int) -> str:
        return grade(context, int(run_id))


def grade(context: ProcessContext, run_id: int) -> str:
    """Grade one run under a fresh claim; returns what happened (for logs and tests)."""
    options = context.options
    token = uuid.uuid4().hex
    try:
        with transaction(context.sessions) as session:
            claim = claim_run(session, run_id, token, options.lease_s, worker_id=context.worker_id)
    except SQLAlchemyError:
        # The database is down: the run stays queued there and the sweep resends it when it is back.
        logger.exception("run %s: cannot claim, database unavailable", run_id)
        return "database unavailable"
    if claim.state != "claimed":
        logger.info("run %s: %s, nothing to do", run_id, claim.state)
        return claim.state
    beat = _Heartbeat(context, run_id, token, options.heartbeat_s)
    beat.start()
    try:
        return _grade_claimed(context, run_id, token)
    except (InfrastructureFault, SQLAlchemyError, OSError) as exc:
        logger.warning("run %s: infrastructure fault, will retry: %s", run_id, exc)
        _delay(context, run_id, token, f"{type(exc).__name__}: {exc}")
        return "delayed"
    except Exception:
        # A bug of ours (or a library's): never the student's result. Kept with its traceback for staff.
        logger.exception("run %s: grading failed unexpectedly", run_id)
        return _fail(context, run_id, token, traceback.format_exc())
    finally:
        beat.stop()


def _grade_claimed(context: ProcessContext, run_id: int, token: str) -> str:
    with transaction(context.sessions) as session:
        run = session.get(GradingRun, run_id)
        assert run is not None  # claimed just now
        config = grading_config(run.submission.assignment)
        sha256 = run.submission.sha256
        filename = run.submission.filename
        done = recorded_questions(session, run_id)
        source = read_verified(session, sha256)
    with _submission_file(source) as submission:
        return _grade_file(context, run_id, token, submission, config, sha256, filename, done)


def _grade_file(
    context: ProcessContext, run_id: int, token: str, submission: Path, config: AssignmentConfig, sha256: str,
    filename: str, done: dict[str, QuestionResult],
) -> str:
    def store(result: QuestionResult, environment: Environment) -> None:
        """Store each question under the claim as soon as it is graded; stop when that is impossible."""
        # Any attempt, not only the counted one: a retry seed lost to our fault is a retry the student lost.
        broken = next((a for a in result.attempts if a.outcome == "infrastructure_error"), None)
        if broken is not None:
            raise InfrastructureFault(f"{result.question}: {broken.detail}")
        with transaction(context.sessions) as session:
            if not record_question(session, run_id, token, result, environment):
                raise _ClaimLost(result.question)

    try:
        report = grade_submission(submission, config, context.runner, Path(context.settings.data_dir),
                                  already_done=done.get, after_question=store)
    except _ClaimLost as lost:
        logger.warning("run %s: claim lost while grading %s; another delivery owns it", run_id, lost)
        return "lost"
    report = replace(report, submission_sha256=sha256, submission_name=filename)
    with transaction(context.sessions) as session:
        finished = finish_run(session, run_id, token, report)
    logger.info("run %s: %s, %s/%s points", run_id, "finished" if finished else "claim lost",
                report.total_points, report.max_points)
    return "done" if finished else "lost"


class _ClaimLost(Exception):
    """Another delivery took the run over: this one stops grading and writes nothing more."""


@contextmanager
def _submission_file(source: bytes) -> Iterator[Path]:
    """The stored upload as a models.py the runner can copy, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="nngrade-run-") as tmp:
        path = Path(tmp) / "models.py"
        path.write_bytes(source)
        yield path


def _fail(context: ProcessContext, run_id: int, token: str, trace: str) -> str:
    options = context.options
    try:
        with transaction(context.sessions) as session:
            run = session.get(GradingRun, run_id)
            wait = backoff_s((run.failures if run else 0) + 1, options.retry_base_s, options.retry_cap_s)
            status = record_failure(session, run_id, token, trace, max_failures=max(1, int(options.max_failures)),
                                    retry_at=utcnow() + timedelta(seconds=wait))
    except SQLAlchemyError:
        logger.exception("run %s: cannot record the failure", run_id)
        return "failed to record"
    return status or "lost"


def _delay(context: ProcessContext, run_id: int, token: str, reason: str) -> None:
    options = context.options
    try:
        with transaction(context.sessions) as session:
            run = session.get(GradingRun, run_id)
            failures = (run.infra_failures if run else 0) + 1
            wait = backoff_s(failures, options.retry_base_s, options.retry_cap_s)
            mark_delayed(session, run_id, token, reason, utcnow() + timedelta(seconds=wait))
    except SQLAlchemyError:
        # Even the database is gone: the claim's heartbeat goes stale and the sweep takes the run back.
        logger.exception("run %s: cannot record the delay", run_id)


class _Heartbeat:
    """Keeps the claim alive from a thread while the grade runs in the task's thread."""

    def __init__(self, context: ProcessContext, run_id: int, token: str, interval_s: float) -> None:
        self.context = context
        self.run_id = run_id
        self.token = token
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{run_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                with transaction(self.context.sessions) as session:
                    if not heartbeat(session, self.run_id, self.token):
                        return
            except SQLAlchemyError:
                logger.warning("run %s: heartbeat failed", self.run_id)
