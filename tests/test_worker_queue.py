"""The queue end to end with real Redis, real worker processes and a real database.

upload -> queued -> graded -> stored; a worker SIGKILLed mid-grade; Redis restarted mid-burst; an
engine that is down and comes back; a student upload during a regrade burst.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from test_worker_support import (
    DATA_DIR,
    REPO,
    RedisServer,
    WorkerProcess,
    redis_server,  # noqa: F401  # a fixture
    start_worker,
    throwaway_postgres,
    wait_for,
    wait_worker_ready,
)

from gradebook import assignments, submissions, users
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction
from gradebook.models import Assignment, GradingRun, QuestionRecord, User
from gradebook.regrade import RegradeScope
from grader.limits import Limits
from nngrade.settings import Settings
from worker.api import GradingQueue
from worker.options import WorkerOptions

pytestmark = [pytest.mark.slow, pytest.mark.redis]

STAFF = REPO / "reference_solutions" / "staff" / "models.py"
QUICK = REPO / "reference_solutions" / "broken" / "exception_in_train.py"  # q1: 2/6 in half a second
NO_LIMITS = submissions.UploadLimits(max_bytes=1 << 20, min_interval_s=0, per_day=0)
# Short timeouts so redelivery and the sweep happen within a test.
FAST = {"visibility_timeout_s": "4", "lease_s": "3", "heartbeat_s": "0.5", "sweep_interval_s": "1",
        "queued_grace_s": "2", "retry_base_s": "1", "retry_cap_s": "2", "publish_timeout_s": "1"}


@dataclass
class Service:
    settings: Settings
    sessions: sessionmaker[Session]
    queue: GradingQueue
    tmp: Path
    env: dict[str, str]
    workers: list[WorkerProcess]

    def worker(self, name: str, concurrency: int = 1, runner: str | None = "test_worker_support:make_test_runner",
               options: dict[str, str] | None = None, **env: str) -> WorkerProcess:
        options = {**FAST, **(options or {})}
        if runner:
            options["runner_factory"] = runner
        w = start_worker(self.tmp, {**self.env, **env}, name=name, concurrency=concurrency, options=options)
        self.workers.append(w)
        wait_worker_ready(self.queue.app, w)
        return w

    def student(self, username: str) -> User:
        with transaction(self.sessions) as s:
            return users.create_user(s, username, username.title(), "pw")

    def assignment(self, slug: str, questions: tuple[str, ...] = ("q1",)) -> Assignment:
        with transaction(self.sessions) as s:
            return assignments.create_assignment(
                s, slug, slug, due_at=datetime.now(UTC) + timedelta(days=1), questions=questions,
                seeds=(0, 1), limits={"q1": Limits(wall_s=60.0)})

    def upload(self, user: User, assignment: Assignment, source: Path, salt: str = "") -> int:
        data = source.read_bytes() + (f"\n# {salt}\n".encode() if salt else b"")
        with transaction(self.sessions) as s:
            sub, run = submissions.create_submission(s, s.merge(user), s.merge(assignment), data, NO_LIMITS)
            submission_id, run_id = sub.id, run.id
        assert self.queue.enqueue_submission(submission_id) == run_id
        return run_id

    def run(self, run_id: int) -> GradingRun:
        with transaction(self.sessions) as s:
            run = s.get(GradingRun, run_id)
            assert run is not None
            return run

    def wait_done(self, run_ids: list[int], timeout_s: float) -> None:
        def all_done() -> bool:
            with transaction(self.sessions) as s:
                states = s.scalars(select(GradingRun.status).where(GradingRun.id.in_(run_ids))).all()
            return all(x == "done" for x in states)

        try:
            wait_for(all_done, timeout_s, f"runs {run_ids} to finish", interval_s=0.25)
        except AssertionError:
            logs = "\n".join(w.log()[-3000:] for w in self.workers)
            raise AssertionError(f"runs not done; worker logs:\n{logs}") from None


def _service(tmp: Path, database_url: str, redis_url: str) -> Iterator[Service]:
    migrate(database_url)
    env = {
        "NNGRADE_VAR_DIR": str(tmp / "var"),
        "NNGRADE_DATABASE_URL": database_url,
        "NNGRADE_REDIS_URL": redis_url,
        "NNGRADE_STORAGE_DIR": str(tmp / "submissions"),
        "NNGRADE_DATA_DIR": str(DATA_DIR),
        "NNGRADE_RUNNER": "local",
        "NNGRADE_TEST_RUNLOG": str(tmp / "runlog.txt"),
    }
    settings = Settings(var_dir=tmp / "var", database_url=database_url, redis_url=redis_url,
                        data_dir=DATA_DIR, storage_dir=tmp / "submissions", runner="local",
                        secret_key="test", worker_concurrency=1)
    options = WorkerOptions(**{k: float(v) for k, v in FAST.items()})
    queue = GradingQueue(settings, options)
    engine = make_engine(database_url)
    service = Service(settings, make_sessionmaker(engine), queue, tmp, env, [])
    try:
        yield service
    finally:
        for w in service.workers:
            w.kill()
        queue.close()
        engine.dispose()


@pytest.fixture
def sqlite_service(tmp_path: Path, redis_server: RedisServer) -> Iterator[Service]:  # noqa: F811
    yield from _service(tmp_path, f"sqlite:///{tmp_path / 'gradebook.sqlite3'}", redis_server.url)


@pytest.fixture
def pg_service(tmp_path: Path, redis_server: RedisServer) -> Iterator[Service]:  # noqa: F811
    with throwaway_postgres() as url:
        yield from _service(tmp_path, url, redis_server.url)


def _runlog(service: Service) -> list[list[str]]:
    path = service.tmp / "runlog.txt"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_upload_is_queued_graded_and_stored(sqlite_service: Service) -> None:
    svc = sqlite_service
    svc.worker("e2e", runner=None)  # the real local runner, as `nngrade worker` would build it
    student, hw = svc.student("ada"), svc.assignment("hw1")
    run_id = svc.upload(student, hw, STAFF)
    assert svc.run(run_id).status in ("queued", "running")
    svc.wait_done([run_id], 60)
    run = svc.run(run_id)
    assert (run.total_points, run.max_points, run.current, run.runner) == (6, 6, True, "local")
    assert run.report is not None and run.report["questions"][0]["outcome"] == "passed"
    with transaction(svc.sessions) as s:
        record = s.scalars(select(QuestionRecord).where(QuestionRecord.run_id == run_id)).one()
        assert record.attempts[0].seed == 0 and record.attempts[0].numpy_version


@pytest.mark.postgres
def test_worker_killed_mid_grade_completes_exactly_once(pg_service: Service) -> None:
    svc = pg_service
    doomed = svc.worker("doomed", NNGRADE_TEST_SLEEP_S="3")
    student, hw = svc.student("bob"), svc.assignment("hw1", questions=("q1", "q2"))
    with transaction(svc.sessions) as s:  # q2 would need MNIST: make it fail fast at import instead
        s.merge(hw).limits = {"q1": vars(Limits(wall_s=60.0)), "q2": vars(Limits(wall_s=60.0))}
    run_id = svc.upload(student, hw, QUICK)
    # Kill the whole worker once q1 is stored and q2 has started: q1 must survive, q2 must be redone.
    wait_for(lambda: any(e[0] == "start" and e[2] == "q2" for e in _runlog(svc)), 30, "q2 to start")
    assert svc.run(run_id).status == "running"
    doomed.kill()
    svc.worker("rescuer")
    svc.wait_done([run_id], 60)
    run = svc.run(run_id)
    assert run.deliveries == 2 and run.status == "done" and run.current
    with transaction(svc.sessions) as s:
        assert s.scalar(select(func.count()).select_from(QuestionRecord).where(QuestionRecord.run_id == run_id)) == 2
        finished = s.scalar(select(func.count()).select_from(GradingRun).where(GradingRun.status == "done"))
    assert finished == 1
    q1_starts = [e for e in _runlog(svc) if e[0] == "start" and e[2] == "q1"]
    assert len(q1_starts) == 1  # the stored q1 result was kept, not regraded
    time.sleep(5)  # past the visibility timeout: a late duplicate delivery must change nothing
    assert svc.run(run_id).finished_at == run.finished_at


@pytest.mark.postgres
def test_redis_restart_mid_burst_loses_nothing(pg_service: Service, redis_server: RedisServer) -> None:  # noqa: F811
    svc = pg_service
    svc.worker("burst", concurrency=2, NNGRADE_TEST_SLEEP_S="0.3")
    hw = svc.assignment("hw1")
    run_ids = [svc.upload(svc.student(f"s{i}"), hw, QUICK) for i in range(10)]
    wait_for(lambda: sum(e[0] == "end" for e in _runlog(svc)) >= 2, 30, "a few grades to finish")
    redis_server.restart()  # no persistence: every waiting message is gone
    run_ids += [svc.upload(svc.student(f"late{i}"), hw, QUICK) for i in range(3)]
    svc.wait_done(run_ids, 90)
    with transaction(svc.sessions) as s:
        assert s.scalar(select(func.count()).select_from(QuestionRecord)) == len(run_ids)


@pytest.mark.postgres
def test_engine_down_is_retried_not_charged(pg_service: Service) -> None:
    svc = pg_service
    flag = svc.tmp / "engine-up"
    svc.worker("flaky", NNGRADE_TEST_ENGINE_FLAG=str(flag))
    run_id = svc.upload(svc.student("cy"), svc.assignment("hw1"), QUICK)
    wait_for(lambda: svc.run(run_id).infra_failures >= 2, 30, "two failed tries with backoff")
    run = svc.run(run_id)
    assert run.status in ("delayed", "queued", "running") and run.total_points is None
    assert "engine" in (run.delay_reason or "")
    with transaction(svc.sessions) as s:
        assert s.scalar(select(func.count()).select_from(QuestionRecord)) == 0
    flag.touch()
    svc.wait_done([run_id], 30)
    run = svc.run(run_id)
    assert run.total_points == 2 and run.delay_reason is None


@pytest.mark.postgres
def test_student_upload_is_not_starved_by_a_regrade(pg_service: Service) -> None:
    svc = pg_service
    grade_s = 1.0
    hw = svc.assignment("hw1")
    graded = []
    for i in range(8):
        graded.append(svc.upload(svc.student(f"r{i}"), hw, QUICK, salt=str(i)))
    svc.worker("busy", concurrency=2, NNGRADE_TEST_SLEEP_S=str(grade_s))
    svc.wait_done(graded, 60)
    change_set = svc.queue.start_regrade(RegradeScope(assignment="hw1"))
    wait_for(lambda: sum(e[0] == "start" for e in _runlog(svc)) >= len(graded) + 2, 20, "the burst to start")
    uploaded = time.time()
    run_id = svc.upload(svc.student("urgent"), hw, QUICK, salt="urgent")
    svc.wait_done([run_id], 30)
    run = svc.run(run_id)
    assert run.started_at is not None
    waited = run.started_at.timestamp() - uploaded
    assert waited <= grade_s + 1.5, f"waited {waited:.1f} s"
    with transaction(svc.sessions) as s:
        pending = s.scalar(select(func.count()).select_from(GradingRun).where(
            GradingRun.change_set_id == change_set, GradingRun.status != "done"))
    assert pending, "the student run should have started while the regrade was still draining"



@pytest.mark.postgres
def test_a_run_that_keeps_failing_is_shown_to_staff_and_retried_by_them(pg_service: Service) -> None:
    svc = pg_service
    fixed = svc.tmp / "bug-fixed"
    svc.worker("buggy", options={"max_failures": "2"}, NNGRADE_TEST_BUG_FLAG=str(fixed))
    run_id = svc.upload(svc.student("dee"), svc.assignment("hw1"), QUICK)
    wait_for(lambda: svc.run(run_id).status == "failed", 60, "the run to fail twice")
    run = svc.run(run_id)
    assert run.failures == 2 and "KeyError: 'simulated bug in the grader'" in (run.failure or "")
    with transaction(svc.sessions) as s:
        assert s.scalar(select(func.count()).select_from(QuestionRecord)) == 0, "nothing charged"
    time.sleep(3)  # past the lease and several sweeps: a failed run is not resent
    assert svc.run(run_id).status == "failed"

    env = {**os.environ, **svc.env, "PYTHONPATH": str(REPO)}
    shown = subprocess.run([sys.executable, "-m", "cli.main", "status"], env=env, capture_output=True, text=True,
                           timeout=60, cwd=REPO)
    assert shown.returncode == 0, shown.stderr
    assert "failed:        1" in shown.stdout and f"failed run {run_id}" in shown.stdout
    assert "KeyError: 'simulated bug in the grader'" in shown.stdout and "Traceback" in shown.stdout
    assert "buggy@" in shown.stdout

    fixed.touch()  # the bug is fixed and deployed; an instructor retries the run
    retried = subprocess.run([sys.executable, "-m", "cli.main", "retry", str(run_id)], env=env,
                             capture_output=True, text=True, timeout=60, cwd=REPO)
    assert retried.returncode == 0 and "queued again" in retried.stdout, retried.stderr
    svc.wait_done([run_id], 30)
    assert svc.run(run_id).total_points == 2
