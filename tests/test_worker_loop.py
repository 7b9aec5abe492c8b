"""The worker's task runs the one grading loop against a real (SQLite) gradebook: questions an earlier delivery
stored are not graded again, each new one is stored under the claim, a lost claim stops the loop, and an import
that timed out is charged once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from scripted import ScriptedRunner
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gradebook import assignments, runs, submissions, users
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction
from gradebook.models import GradingRun, QuestionRecord
from grader.config import AssignmentConfig
from grader.grading import grade_question
from grader.runs import ProgressCallback, RunOutcome, RunRequest
from nngrade.settings import Settings
from worker.context import ProcessContext
from worker.options import WorkerOptions
from worker.tasks import grade

NO_LIMITS = submissions.UploadLimits(max_bytes=1 << 20, min_interval_s=0, per_day=0)


class Gradebook:
    def __init__(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'gradebook.sqlite3'}"
        migrate(url)
        self.engine = make_engine(url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.settings = Settings(var_dir=tmp_path, database_url=url, storage_dir=tmp_path / "submissions",
                                 data_dir=tmp_path, runner="local", secret_key="k", worker_concurrency=1)
        with transaction(self.sessions) as s:
            student = users.create_user(s, "s1", "Ada Student", "pw")
            assignment = assignments.create_assignment(s, "hw", "Homework", due_at=datetime.now(UTC) + timedelta(1),
                                                       questions=("q1", "q2"), seeds=(0, 1))
            _, run = submissions.create_submission(s, student, assignment, b"# models.py\n", NO_LIMITS)
            self.run_id = run.id

    def stored(self) -> dict[str, str]:
        with transaction(self.sessions) as s:
            rows = s.scalars(select(QuestionRecord).where(QuestionRecord.run_id == self.run_id)).all()
            return {r.question: r.outcome for r in rows}

    def status(self) -> str:
        with transaction(self.sessions) as s:
            run = s.get(GradingRun, self.run_id)
            assert run is not None
            return run.status


@pytest.fixture
def gradebook(tmp_path: Path) -> Iterator[Gradebook]:
    book = Gradebook(tmp_path)
    yield book
    book.engine.dispose()


def run_task(book: Gradebook, runner: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    context = ProcessContext(book.settings, WorkerOptions(heartbeat_s=60.0))
    monkeypatch.setattr(ProcessContext, "runner", property(lambda self: runner))
    try:
        return grade(context, book.run_id)
    finally:
        context.dispose()


def test_questions_stored_by_an_earlier_delivery_are_not_graded_again(
    gradebook: Gradebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first delivery stored q1 and died (its claim went stale).
    first = ScriptedRunner({("q1", 0): 0.01})
    q1 = grade_question(Path("models.py"), "q1", AssignmentConfig(), first, gradebook.settings.data_dir)
    with transaction(gradebook.sessions) as s:
        assert runs.claim_run(s, gradebook.run_id, "dead", lease_s=60).state == "claimed"
        assert runs.record_question(s, gradebook.run_id, "dead", q1, None)
        s.execute(update(GradingRun).where(GradingRun.id == gradebook.run_id)
                  .values(heartbeat_at=datetime(2000, 1, 1, tzinfo=UTC)))
    second = ScriptedRunner({("q2", 0): "crashed"})
    assert run_task(gradebook, second, monkeypatch) == "done"
    assert [r.question for r in second.requests] == ["q2"]
    assert gradebook.stored() == {"q1": "passed", "q2": "crashed"} and gradebook.status() == "done"


class StealsTheClaim(ScriptedRunner):
    """While q1 grades, another delivery takes the run over."""

    def __init__(self, book: Gradebook, script: dict[Any, Any]) -> None:
        super().__init__(script)
        self.book = book

    def run(self, request: RunRequest, on_progress: ProgressCallback | None = None) -> RunOutcome:
        with transaction(self.book.sessions) as s:
            s.execute(update(GradingRun).where(GradingRun.id == self.book.run_id).values(claim_token="other"))
        return super().run(request, on_progress)


def test_a_lost_claim_stops_the_loop_and_writes_nothing(gradebook: Gradebook, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = StealsTheClaim(gradebook, {("q1", 0): 0.01, ("q2", 0): "crashed"})
    assert run_task(gradebook, runner, monkeypatch) == "lost"
    assert [r.question for r in runner.requests] == ["q1"]
    assert gradebook.stored() == {}


def test_an_import_that_times_out_is_charged_once_by_the_worker(
    gradebook: Gradebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = ScriptedRunner({("q1", 0): "timeout-import"})
    assert run_task(gradebook, runner, monkeypatch) == "done"
    assert [(r.question, r.seed) for r in runner.requests] == [("q1", 0)]
    assert gradebook.stored() == {"q1": "timeout", "q2": "timeout"}


def test_an_infrastructure_fault_is_delayed_never_stored(gradebook: Gradebook, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = ScriptedRunner({("q1", 0): 0.5, ("q1", 1): "infrastructure_error"})
    assert run_task(gradebook, runner, monkeypatch) == "delayed"
    assert gradebook.stored() == {} and gradebook.status() == "delayed"
