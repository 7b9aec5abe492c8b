"""The gradebook's side of many workers: uploads in the database, worker heartbeats, failed runs, migrations.

Against SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker
from test_worker_support import throwaway_postgres

from gradebook import assignments, retries, runs, status, storage, submissions, users, workers
from gradebook.db import current_revision, make_engine, make_sessionmaker, migrate, transaction
from gradebook.models import Base, GradingRun, SubmissionFile

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
LIMITS = submissions.UploadLimits(max_bytes=10_000, min_interval_s=0, per_day=0)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'gradebook.sqlite3'}"
        migrate(url)
        yield url
        return
    with throwaway_postgres() as url:
        migrate(url)
        yield url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    yield make_sessionmaker(engine)
    engine.dispose()


def _upload(s: Session, username: str, data: bytes) -> tuple[int, int]:
    student = users.create_user(s, username, username.title(), "pw")
    hw = assignments.get_assignment(s, "hw1") or assignments.create_assignment(
        s, "hw1", "Homework 1", due_at=NOW + timedelta(days=1), questions=("q1",))
    sub, run = submissions.create_submission(s, student, hw, data, LIMITS, now=NOW)
    return sub.id, run.id


# -- uploads live in the database ---------------------------------------------------------------------


def test_uploads_are_stored_once_and_verified_on_read(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        _upload(s, "ada", b"x = 1\n")
        _upload(s, "bob", b"x = 1\n")  # same bytes: stored once
        digest = hashlib.sha256(b"x = 1\n").hexdigest()
        assert s.scalars(select(SubmissionFile.sha256)).all() == [digest]
        assert storage.read_verified(s, digest) == b"x = 1\n"
    with transaction(sessions) as s:
        s.execute(update(SubmissionFile).values(content=b"x = 2\n"))
    with transaction(sessions) as s, pytest.raises(storage.StoredFileError, match="does not match"):
        storage.read_verified(s, digest)
    with transaction(sessions) as s, pytest.raises(storage.StoredFileError, match="missing"):
        storage.read_verified(s, "0" * 64)


# -- failed runs ------------------------------------------------------------------------------------


def test_a_run_that_keeps_failing_is_failed_shown_and_retried(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        _, run_id = _upload(s, "ada", b"x = 1\n")
    for attempt in range(1, 4):
        with transaction(sessions) as s:
            assert runs.claim_run(s, run_id, f"t{attempt}", lease_s=60, worker_id="w1").state == "claimed"
            new = retries.record_failure(s, run_id, f"t{attempt}", f"Traceback ...\nKeyError: 'boom {attempt}'",
                                      max_failures=3, retry_at=utcnow_plus(0))
        assert new == ("failed" if attempt == 3 else "delayed")
    with transaction(sessions) as s:
        run = s.get(GradingRun, run_id)
        assert run is not None and (run.status, run.failures, run.worker_id) == ("failed", 3, "w1")
        assert runs.claim_run(s, run_id, "late", lease_s=60).state == "finished"  # not taken again
        assert status.queue_counts(s).failed == 1
        [failed] = status.failed_runs(s)
        assert (failed.run_id, failed.username, failed.summary) == (run_id, "ada", "KeyError: 'boom 3'")
        assert retries.runs_to_resend(s, lease_s=60, queued_grace_s=0, in_broker=set(),
                                   now=utcnow_plus(3600)) == []
    with transaction(sessions) as s:
        assert retries.record_failure(s, run_id, "t3", "again", max_failures=3, retry_at=NOW) is None  # no claim
        assert retries.retry_failed_run(s, run_id) == "submission"
        assert retries.retry_failed_run(s, run_id) is None  # queued now: nothing to retry
        run = s.get(GradingRun, run_id, populate_existing=True)
        assert run is not None and (run.status, run.failures) == ("queued", 0)


def test_a_run_whose_workers_keep_dying_is_failed(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        _, run_id = _upload(s, "ada", b"x = 1\n")
    moment = NOW
    for attempt in range(1, 4):
        with transaction(sessions) as s:
            assert runs.claim_run(s, run_id, f"t{attempt}", lease_s=60, now=moment,
                                  worker_id=f"w{attempt}").state == "claimed"
        moment += timedelta(seconds=120)
        with transaction(sessions) as s:
            resent = retries.runs_to_resend(s, lease_s=60, queued_grace_s=600, in_broker=set(), max_failures=3,
                                         now=moment)
            assert [r.why for r in resent] == (["worker lost"] if attempt < 3 else [])
    with transaction(sessions) as s:
        run = s.get(GradingRun, run_id)
        assert run is not None and (run.status, run.failures) == ("failed", 3)
        assert "(w3) stopped before finishing it, 3 times" in (run.failure or "")


def utcnow_plus(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# -- workers and their heartbeats -------------------------------------------------------------------


def test_workers_are_alive_while_they_beat(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        for name in ("a", "b"):
            workers.register_worker(s, f"{name}@host/1/x", hostname="host", pid=1, started_at=NOW, concurrency=2,
                                    queues=("student", "bulk"))
        assert workers.beat(s, "a@host/1/x", problem="MNIST cache: broken")
        assert not workers.beat(s, "nobody")
    with transaction(sessions) as s:
        states = workers.worker_states(s, lease_s=60)
        assert set(states) == {"a@host/1/x", "b@host/1/x"} and all(w.alive for w in states.values())
        assert states["a@host/1/x"].problem == "MNIST cache: broken"
        assert workers.worker_states(s, lease_s=60, ids=["b@host/1/x", "unknown"]).keys() == {"b@host/1/x"}
        workers.mark_stopped(s, "b@host/1/x")
    with transaction(sessions) as s:
        assert [w.id for w in workers.live_workers(s, lease_s=60)] == ["a@host/1/x"]
        old = workers.db_now(s) - timedelta(seconds=120)
        s.execute(update(workers.Worker).where(workers.Worker.id == "a@host/1/x").values(heartbeat_at=old))
    with transaction(sessions) as s:
        assert workers.live_workers(s, lease_s=60) == []
        assert not workers.worker_states(s, lease_s=60)["a@host/1/x"].alive
        assert workers.forget_dead_workers(s, older_than_s=60) == 1  # b stopped just now: kept a while


def test_liveness_uses_the_database_clock(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        now = workers.db_now(s)
    assert now.tzinfo is not None and abs((now - datetime.now(UTC)).total_seconds()) < 60


# -- migrations -------------------------------------------------------------------------------------


def _old_database(url: str, folder: Path, files: dict[str, bytes]) -> None:
    """A database at revision 0001 with one submission per file, as the folder store kept them."""
    migrate(url, revision="0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO users (id, username, name, role, password_hash, active, must_change_password, "
            "created_at) VALUES (1, 'ada', 'Ada', 'student', 'x', true, false, :now)"), {"now": NOW})
        conn.execute(text(
            "INSERT INTO assignments (id, slug, title, questions, seeds, limits, due_at, late_penalty_pct, "
            "score_policy, created_at) VALUES (1, 'hw1', 'HW', '[\"q1\", \"q2\"]', '[0, 1]', :limits, :now, 0, "
            "'best', :now)"),
            {"now": NOW, "limits": '{"q1": {"wall_s": 180.0, "memory_mb": 2048}, "q2": {"wall_s": 600.0}}'})
        for number, (name, data) in enumerate(files.items(), start=1):
            digest = hashlib.sha256(data).hexdigest()
            conn.execute(text(
                "INSERT INTO submissions (id, user_id, assignment_id, sha256, filename, size_bytes, uploaded_at, "
                "late) VALUES (:id, 1, 1, :sha, :name, :size, :now, false)"),
                {"id": number, "sha": digest, "name": name, "size": len(data), "now": NOW})
            (folder / digest[:2]).mkdir(parents=True, exist_ok=True)
            (folder / digest[:2] / digest).write_bytes(data)
    engine.dispose()


@contextlib.contextmanager
def _fresh_url(tmp_path: Path, backend: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    with throwaway_postgres() as url:
        yield url


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from gradebook.db import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migration_moves_uploads_and_turns_limits_into_cpu_budgets(tmp_path: Path, backend: str) -> None:
    with _fresh_url(tmp_path, backend) as url:
        folder = tmp_path / "submissions"
        files = {"a.py": b"print('a')\n", "b.py": b"print('b')\n"}
        _old_database(url, folder, files)
        missing = hashlib.sha256(files["b.py"]).hexdigest()
        (folder / missing[:2] / missing).unlink()
        with pytest.raises(RuntimeError, match=f"cannot move 1 of 2 uploads.*{missing}"):
            migrate(url, storage_dir=folder)
        with pytest.raises(RuntimeError, match="NNGRADE_STORAGE_DIR"):
            migrate(url)
        assert current_revision(url) in ("0001", "0002")  # stopped before moving anything
        (folder / missing[:2] / missing).write_bytes(files["b.py"])
        migrate(url, storage_dir=folder)
        assert current_revision(url) == _head_revision()
        engine = make_engine(url)
        with transaction(make_sessionmaker(engine)) as s:
            for data in files.values():
                assert storage.read_verified(s, hashlib.sha256(data).hexdigest()) == data
            hw = assignments.get_assignment(s, "hw1")
            assert hw is not None
            config = assignments.grading_config(hw)
            q1, q2 = config.limits_for("q1"), config.limits_for("q2")
            assert (q1.cpu_s, q1.wall_s, q1.memory_mb) == (180.0, 360.0, 2048)
            assert (q2.cpu_s, q2.wall_s) == (600.0, 1200.0)
        engine.dispose()
