"""Flags in the gradebook (SQLite and PostgreSQL): a finished run whose report asks for review flags its
submission, once, whatever run it was; nothing else does, and points are what the report says."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_worker_support import throwaway_postgres

from gradebook import assignments, flags, regrade, runs, submissions, users
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction
from gradebook.models import Base, GradingRun, Submission, User
from grader.challenge import CopyKey
from grader.integrity import judge_copy
from grader.report import Attempt, Environment, IntegrityCheck, QuestionResult, Report

LIMITS = submissions.UploadLimits(max_bytes=10_000, min_interval_s=0, per_day=0)
KEY = CopyKey(secret=7, images=100)
LABELS = np.arange(100) % 10
LOOKUP = judge_copy(LABELS.tolist(), {"status": "ok", "predictions": [0] * 100}, LABELS, KEY)
HONEST = judge_copy(LABELS.tolist(), {"status": "ok", "predictions": LABELS[KEY.order()].tolist()}, LABELS, KEY)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sessions(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[sessionmaker[Session]]:
    def made(url: str) -> Iterator[sessionmaker[Session]]:
        migrate(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
        yield make_sessionmaker(engine)
        engine.dispose()

    if request.param == "sqlite":
        yield from made(f"sqlite:///{tmp_path_factory.mktemp('db') / 'gradebook.sqlite3'}")
        return
    with throwaway_postgres() as url:
        yield from made(url)


def report_with(check: IntegrityCheck | None) -> Report:
    attempt = Attempt(seed=0, outcome="passed", points=6, sanity_passed=True, metric_value=1.0, detail="ok",
                      wall_s=1.0, cpu_s=1.0, peak_memory_mb=50.0, integrity=check)
    question = QuestionResult(question="q2", title="Q2", points=6, max_points=6, outcome="passed",
                              metric_name="accuracy", metric_value=1.0, threshold=0.97, comparison=">=",
                              attempts=(attempt,), counted_attempt=0)
    return Report(submission_sha256="0" * 64, submission_name="models.py",
                  environment=Environment("docker", "3.9", "1.22.4", "1.0"), config={}, questions=(question,),
                  wall_s=1.0)


def finish(session: Session, run_id: int, report: Report) -> None:
    assert runs.claim_run(session, run_id, "tok", lease_s=60).state == "claimed"
    assert runs.finish_run(session, run_id, "tok", report)


def test_a_report_that_asks_for_review_flags_its_submission_once(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        student = users.create_user(s, "s1", "Ada Student", "pw-s1")
        other = users.create_user(s, "s2", "Bo Student", "pw-s2")
        staff = users.create_user(s, "t1", "Tom TA", "pw-t1", "instructor")
        hw = assignments.create_assignment(s, "hw", "Homework", due_at=datetime.now(UTC) + timedelta(days=1),
                                           questions=("q2",))
        cheat, cheat_run = submissions.create_submission(s, student, hw, b"# cheat\n", LIMITS)
        honest, honest_run = submissions.create_submission(s, other, hw, b"# honest\n", LIMITS)
        ids = (cheat.id, cheat_run.id, honest.id, honest_run.id, staff.id)
    cheat_id, cheat_run_id, honest_id, honest_run_id, staff_id = ids
    with transaction(sessions) as s:
        finish(s, cheat_run_id, report_with(LOOKUP))
        finish(s, honest_run_id, report_with(HONEST))
    with transaction(sessions) as s:
        reason = flags.flag_reason(s, cheat_id)
        assert reason is not None and reason == report_with(LOOKUP).flag_reason
        assert flags.flag_reason(s, honest_id) is None
        assert flags.flagged_among(s, [cheat_id, honest_id]) == {cheat_id} and flags.flagged_among(s, []) == set()
        assert s.scalar(select(GradingRun.total_points).where(GradingRun.id == cheat_run_id)) == 6
    # A regrade that flags again keeps the first reason; one that does not flag clears nothing.
    with transaction(sessions) as s:
        author = s.get(User, staff_id)
        assert author is not None
        regrade_runs = {sid: regrade.regrade_submission(s, submission, author, "again").id
                        for sid in (cheat_id, honest_id) if (submission := s.get(Submission, sid)) is not None}
    with transaction(sessions) as s:
        finish(s, regrade_runs[cheat_id], report_with(None))
        finish(s, regrade_runs[honest_id], report_with(LOOKUP))
    with transaction(sessions) as s:
        assert flags.flag_reason(s, cheat_id) == reason
        assert flags.flag_reason(s, honest_id) == report_with(LOOKUP).flag_reason
        assert flags.flag_submission(s, cheat_id, "another reason") is False
