"""The gradebook against SQLite and PostgreSQL: schema, accounts, uploads, exactly-once runs, policies."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker
from test_worker_support import throwaway_postgres

from gradebook import (
    assignments,
    export,
    overrides,
    policies,
    regrade,
    retries,
    roster,
    runs,
    status,
    submissions,
    users,
)
from gradebook.db import current_revision, make_engine, make_sessionmaker, migrate, transaction
from gradebook.models import Assignment, AttemptRecord, Base, GradingRun, QuestionRecord, User
from gradebook.storage import read_verified
from grader.report import Attempt, Environment, QuestionResult, Report

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
LIMITS = submissions.UploadLimits(max_bytes=10_000, min_interval_s=60, per_day=3)
ENV = Environment(runner="local", python_version="3.11.2", numpy_version="1.26.4", kit_version="1.0")


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


def _setup(session: Session, **kw: object) -> tuple[User, Assignment]:
    student = users.create_user(session, "s1", "Ada Student", "pw-s1")
    a = assignments.create_assignment(session, "hw1", "Homework 1", due_at=NOW + timedelta(days=1),
                                      questions=("q1", "q2"), **kw)  # type: ignore[arg-type]
    return student, a


def _question(q: str, points: int, max_points: int = 6, outcome: str = "passed") -> QuestionResult:
    attempt = Attempt(seed=0, outcome=outcome, points=points, sanity_passed=True, metric_value=0.01,  # type: ignore[arg-type]
                      detail="ok", wall_s=1.0, cpu_s=1.0, peak_memory_mb=50.0, log_excerpt="log")
    return QuestionResult(question=q, title=q.upper(), points=points, max_points=max_points,
                          outcome=outcome, metric_name="loss", metric_value=0.01, threshold=0.02,  # type: ignore[arg-type]
                          comparison="<=", attempts=(attempt,), counted_attempt=0)


def _report(*questions: QuestionResult) -> Report:
    return Report(submission_sha256="0" * 64, submission_name="models.py", environment=ENV, config={},
                  questions=questions, wall_s=2.0)


def _grade(session: Session, run_id: int, points: dict[str, int]) -> None:
    claim = runs.claim_run(session, run_id, "tok", lease_s=60)
    assert claim.state == "claimed"
    qs = [_question(q, p) for q, p in points.items()]
    for q in qs:
        assert runs.record_question(session, run_id, "tok", q, ENV)
    assert runs.finish_run(session, run_id, "tok", _report(*qs))


def test_migrations_match_models(database_url: str) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from gradebook.db import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migrations from two branches both follow one revision: {heads}; chain them"
    assert current_revision(database_url) == heads[0]
    migrate(database_url)  # idempotent
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_roster_import_and_authenticate(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    text_csv = "student_id,name,email,role\ns1,Ada,ada@x.org,\ns2,Bob,,student\nt1,Tia,,ta\n"
    with transaction(sessions) as s:
        result = roster.import_roster(s, text_csv)
    assert result.created == ["s1", "s2", "t1"]
    creds = tmp_path / "creds.csv"
    roster.write_credentials(creds, result.credentials)
    assert creds.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(io.StringIO(creds.read_text())))
    with transaction(sessions) as s:
        assert users.authenticate(s, "s1", rows[0]["password"]) is not None
        assert users.authenticate(s, "s1", "wrong") is None
        assert users.authenticate(s, "nobody", "x") is None
        assert users.get_user(s, "t1").role == "ta"  # type: ignore[union-attr]
        again = roster.import_roster(s, "username,name\ns1,Ada Lovelace\n")
    assert again.updated == ["s1"] and again.credentials == []
    with pytest.raises(roster.RosterError, match="line 3"):
        roster.parse_roster("username,role\na,student\nb,admin\n")
    with pytest.raises(FileExistsError):
        roster.write_credentials(creds, [])


def test_upload_limits_give_next_allowed_time(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        student, a = _setup(s, max_submissions=4)
        sub, _ = submissions.create_submission(s, student, a, b"print(1)\n", LIMITS, now=NOW)
        assert read_verified(s, sub.sha256) == b"print(1)\n"
        early = submissions.check_upload(s, student, a, LIMITS, NOW + timedelta(seconds=30))
        assert not early.allowed and early.next_allowed_at == NOW + timedelta(seconds=60)
        for minutes in (2, 4):
            submissions.create_submission(s, student, a, b"x = %d\n" % minutes, LIMITS,
                                          now=NOW + timedelta(minutes=minutes))
        capped = submissions.check_upload(s, student, a, LIMITS, NOW + timedelta(minutes=10))
        assert not capped.allowed and capped.next_allowed_at == NOW + timedelta(days=1)
        day_later = NOW + timedelta(days=1, minutes=1)
        submissions.create_submission(s, student, a, b"y = 1\n", LIMITS, now=day_later)
        final = submissions.check_upload(s, student, a, LIMITS, day_later + timedelta(hours=2))
        assert not final.allowed and final.next_allowed_at is None and "4 submissions" in final.reason
        with pytest.raises(submissions.UploadRejected):
            submissions.create_submission(s, student, a, b"z\n" * 10_000, LIMITS, now=day_later)


def test_newer_upload_supersedes_queued_one(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        student, a = _setup(s)
        _, first = submissions.create_submission(s, student, a, b"a = 1\n", LIMITS, now=NOW)
        _, second = submissions.create_submission(s, student, a, b"a = 2\n", LIMITS,
                                                  now=NOW + timedelta(minutes=2))
        assert runs.claim_run(s, second.id, "t", lease_s=60).state == "claimed"
        _, third = submissions.create_submission(s, student, a, b"a = 3\n", LIMITS,
                                                 now=NOW + timedelta(minutes=4))
        states = {r.id: r.status for r in s.scalars(select(GradingRun).execution_options(populate_existing=True))}
    # A started run keeps going; only a waiting one is replaced.
    assert states == {first.id: "superseded", second.id: "running", third.id: "queued"}
    with transaction(sessions) as s:
        assert runs.claim_run(s, first.id, "t2", lease_s=60).state == "finished"


def test_exactly_once_claims_and_writes(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        student, a = _setup(s)
        _, run = submissions.create_submission(s, student, a, b"a = 1\n", LIMITS, now=NOW)
        run_id = run.id
    with transaction(sessions) as s:
        assert runs.claim_run(s, run_id, "first", lease_s=60).state == "claimed"
    with transaction(sessions) as s:
        assert runs.claim_run(s, run_id, "second", lease_s=60).state == "busy"
        assert runs.record_question(s, run_id, "first", _question("q1", 6), ENV)
    with transaction(sessions) as s:  # the first worker died: its lease runs out, a redelivery takes over
        later = datetime.now(UTC) + timedelta(seconds=120)
        claim = runs.claim_run(s, run_id, "second", lease_s=60, now=later)
        assert claim.state == "claimed"
        assert set(runs.recorded_questions(s, run_id)) == {"q1"}
    with transaction(sessions) as s:
        # The old claimant wakes up: none of its writes count.
        assert not runs.record_question(s, run_id, "first", _question("q2", 1), ENV)
        assert not runs.finish_run(s, run_id, "first", _report(_question("q1", 6), _question("q2", 1)))
        assert runs.record_question(s, run_id, "second", _question("q1", 0), ENV)  # idempotent: first kept
        assert runs.record_question(s, run_id, "second", _question("q2", 6), ENV)
        assert runs.finish_run(s, run_id, "second", _report(_question("q1", 6), _question("q2", 6)))
        assert not runs.finish_run(s, run_id, "second", _report(_question("q1", 6), _question("q2", 6)))
    with transaction(sessions) as s:
        row = s.get(GradingRun, run_id)
        assert row is not None
        assert (row.status, row.total_points, row.current, row.deliveries) == ("done", 12, True, 2)
        assert s.scalar(select(func.count()).select_from(QuestionRecord)) == 2
        assert s.scalar(select(func.count()).select_from(AttemptRecord)) == 2
        assert [q.points for q in row.questions] == [6, 6]
        assert runs.claim_run(s, run_id, "third", lease_s=60).state == "finished"
        with pytest.raises(ValueError, match="infrastructure"):
            runs.record_question(s, run_id, "x", _question("q1", 0, outcome="infrastructure_error"), ENV)


def test_concurrent_claims_have_one_winner(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        student, a = _setup(s)
        _, run = submissions.create_submission(s, student, a, b"a = 1\n", LIMITS, now=NOW)
        run_id = run.id
    results: list[str] = []
    barrier = threading.Barrier(4)

    def claim(token: str) -> None:
        barrier.wait()
        with transaction(sessions) as s:
            results.append(runs.claim_run(s, run_id, token, lease_s=60).state)

    threads = [threading.Thread(target=claim, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy", "busy", "busy", "claimed"]


def test_sweep_finds_dead_delayed_and_lost_runs(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        student, a = _setup(s)
        other = users.create_user(s, "s2", "Bob", "pw")
        third = users.create_user(s, "s3", "Cy", "pw")
        _, dead = submissions.create_submission(s, student, a, b"a = 1\n", LIMITS, now=NOW)
        _, delayed = submissions.create_submission(s, other, a, b"a = 2\n", LIMITS, now=NOW)
        _, lost = submissions.create_submission(s, third, a, b"a = 3\n", LIMITS, now=NOW)
        runs.claim_run(s, dead.id, "d", lease_s=60, now=NOW)
        runs.claim_run(s, delayed.id, "e", lease_s=60, now=NOW)
        retries.mark_delayed(s, delayed.id, "e", "engine down", retry_at=NOW + timedelta(seconds=30), now=NOW)
    with transaction(sessions) as s:
        early = retries.runs_to_resend(s, lease_s=60, queued_grace_s=60, in_broker={lost.id},
                                    now=NOW + timedelta(seconds=10))
        assert early == []
        due = retries.runs_to_resend(s, lease_s=60, queued_grace_s=60, in_broker=set(),
                                  now=NOW + timedelta(seconds=90))
        assert {(r.run_id, r.why) for r in due} == {
            (dead.id, "worker lost"), (delayed.id, "retry after infrastructure fault"),
            (lost.id, "missing from the broker"),
        }
        assert retries.runs_to_resend(s, lease_s=60, queued_grace_s=60, in_broker=None,
                                   now=NOW + timedelta(seconds=100)) == []
        counts = status.queue_counts(s, now=NOW + timedelta(seconds=100))
        assert counts.queued_student == 3 and counts.running == 0
        assert s.get(GradingRun, delayed.id).delay_reason == "engine down"  # type: ignore[union-attr]
    assert retries.backoff_s(1) == 15 and retries.backoff_s(3) == 60 and retries.backoff_s(20) == 600


def test_policies_overrides_and_export(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        student, a = _setup(s, late_due_at=NOW + timedelta(days=3), late_penalty_pct=25.0, score_policy="best")
        staff = users.create_user(s, "t1", "Tia", "pw", role="ta")
        users.create_user(s, "s9", "Nobody Yet", "pw")
        sub1, r1 = submissions.create_submission(s, student, a, b"a = 1\n", LIMITS, now=NOW)
        _grade(s, r1.id, {"q1": 6, "q2": 2})
        late = NOW + timedelta(days=2)
        sub2, r2 = submissions.create_submission(s, student, a, b"a = 2\n", LIMITS, now=late)
        _grade(s, r2.id, {"q1": 6, "q2": 6})
        assert sub2.late and not sub1.late
    with transaction(sessions) as s:
        a = assignments.get_assignment(s, "hw1")  # type: ignore[assignment]
        subs = submissions.submissions_of(s, student.id, a.id)
        best = policies.final_submission(a, subs)
        assert best is not None and best.submission.id == sub2.id and best.total == 9.0  # 12 * 0.75 > 8
        a.score_policy = "latest"
        assert policies.final_submission(a, subs).submission.id == sub2.id  # type: ignore[union-attr]
        a.score_policy = "best"
        with pytest.raises(overrides.OverrideError):
            overrides.add_override(s, sub1, "q2", 6, student, "please")
        overrides.add_override(s, s.merge(sub1), "q2", 6, s.merge(staff), "regrade request: q2 data issue")
        s.flush()
        subs = submissions.submissions_of(s, student.id, a.id)
        chosen = policies.final_submission(a, subs)
        assert chosen is not None and chosen.submission.id == sub1.id and chosen.total == 12
        exported = export.export_csv(s, a)
        rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows[0] == {"student_id": "s1", "name": "Ada Student", "q1": "6", "q2": "6", "total": "12",
                       "max_total": "12", "late": "no", "late_penalty_pct": "0",
                       "submitted_at": NOW.isoformat(timespec="seconds"), "policy": "best submission"}
    # No submission: zero of the maximum, and every fact only a submission has is an empty cell.
    assert rows[1] == {"student_id": "s9", "name": rows[1]["name"], "q1": "0", "q2": "0", "total": "0",
                       "max_total": "12", "late": "", "late_penalty_pct": "", "submitted_at": "",
                       "policy": "best submission"}
    assert exported.splitlines()[2] == "s9,{},0,0,0,12,,,,best submission".format(rows[1]["name"])


def test_regrade_change_set_diff_and_apply(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        student, a = _setup(s)
        other = users.create_user(s, "s2", "Bob", "pw")
        sub1, r1 = submissions.create_submission(s, student, a, b"a = 1\n", LIMITS, now=NOW)
        _grade(s, r1.id, {"q1": 6, "q2": 6})
        sub2, r2 = submissions.create_submission(s, other, a, b"a = 2\n", LIMITS, now=NOW)
        _grade(s, r2.id, {"q1": 6, "q2": 0})
    with transaction(sessions) as s:
        failed = regrade.select_submissions(s, regrade.RegradeScope(assignment="hw1", only_failed=True))
        assert [x.id for x in failed] == [sub2.id]
        cs, run_ids = regrade.create_change_set(s, regrade.RegradeScope(assignment="hw1"))
        assert len(run_ids) == 2 and regrade.progress(s, cs.id).total == 2
    with transaction(sessions) as s:
        new = dict(zip((sub1.id, sub2.id), run_ids, strict=True))
        _grade(s, new[sub1.id], {"q1": 6, "q2": 6})
        _grade(s, new[sub2.id], {"q1": 6, "q2": 5})
        assert regrade.progress(s, cs.id).finished
        assert s.get(type(cs), cs.id).status == "ready"  # type: ignore[union-attr]
        changes = regrade.diff(s, cs.id)
        assert [(c.username, c.question, c.before, c.after) for c in changes] == [
            ("s2", "q2", 0, 5), ("s2", "total", 6, 11)]
        assert regrade.apply_change_set(s, cs.id) == 2
    with transaction(sessions) as s:
        current = {r.submission_id: r.id for r in s.scalars(select(GradingRun).where(GradingRun.current))}
        assert current == new
        assert s.scalar(select(func.count()).select_from(GradingRun)) == 4  # old results kept
        with pytest.raises(regrade.RegradeError):
            regrade.apply_change_set(s, cs.id)


def test_sqlite_is_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x' / 'g.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
