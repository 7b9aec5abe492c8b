"""`nngrade roster import`, `export`, `status` and `regrade` through the real command line."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from test_worker_queue import QUICK, Service, _service
from test_worker_support import RedisServer, redis_server  # noqa: F401  # a fixture

from cli.app import run
from cli.course import run_regrade
from gradebook.db import transaction
from gradebook.models import ChangeSet, GradingRun, QuestionRecord
from gradebook.regrade import RegradeScope

ROSTER = "username,name,email,role\ns1,Ada Student,ada@example.org,student\nt1,Tia TA,,ta\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NNGRADE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NNGRADE_DATABASE_URL", f"sqlite:///{tmp_path / 'g.sqlite3'}")
    return tmp_path


def test_roster_import_writes_credentials_and_export(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roster = env / "roster.csv"
    roster.write_text(ROSTER)
    creds = env / "creds.csv"
    assert run(["roster", "import", str(roster), "--credentials", str(creds)]) == 0
    assert "2 created" in capsys.readouterr().out
    assert [r["username"] for r in csv.DictReader(io.StringIO(creds.read_text()))] == ["s1", "t1"]
    assert run(["roster", "import", str(roster)]) == 0
    assert "2 unchanged" in capsys.readouterr().out
    assert run(["export", "nope"]) == 2
    bad = env / "bad.csv"
    bad.write_text("name\nx\n")
    assert run(["roster", "import", str(bad)]) == 2


@pytest.fixture
def service(tmp_path: Path, redis_server: RedisServer) -> Iterator[Service]:  # noqa: F811
    yield from _service(tmp_path, f"sqlite:///{tmp_path / 'gradebook.sqlite3'}", redis_server.url)


@pytest.mark.slow
@pytest.mark.redis
def test_regrade_shows_changes_and_applies_on_confirmation(
    service: Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    svc = service
    svc.worker("cli", concurrency=2)
    hw = svc.assignment("hw1")
    run_ids = [svc.upload(svc.student(f"s{i}"), hw, QUICK, salt=str(i)) for i in range(3)]
    svc.wait_done(run_ids, 60)
    with transaction(svc.sessions) as s:  # an old grader bug gave s0 nothing for q1
        s.execute(update(QuestionRecord).where(QuestionRecord.run_id == run_ids[0]).values(points=0))
        s.execute(update(GradingRun).where(GradingRun.id == run_ids[0]).values(total_points=0))
    out = io.StringIO()
    code = run_regrade(svc.settings, RegradeScope(assignment="hw1"), out=out, answer=io.StringIO("y\n"),
                       poll_s=0.2, queue=svc.queue, timeout_s=60)
    text = out.getvalue()
    assert code == 0, text
    assert "3/3 graded" in text
    assert re.search(r"^s0\s+hw1\s+q1\s+0\s+2$", text, re.M) and re.search(r"^s0\s+hw1\s+total\s+0\s+2$", text, re.M)
    assert "applied: 3 run(s)" in text
    with transaction(svc.sessions) as s:
        current = s.scalars(select(GradingRun).where(GradingRun.current)).all()
        assert sorted(r.total_points or 0 for r in current) == [2, 2, 2]
        assert all(r.purpose == "regrade" for r in current)
        assert len(s.scalars(select(GradingRun)).all()) == 6  # the old results are kept

    for key, value in svc.env.items():
        monkeypatch.setenv(key, value)
    assert run(["status"]) == 0
    status = capsys.readouterr().out
    assert "workers alive: 1" in status and "queued:        0 student, 0 regrade" in status
    assert run(["export", "hw1"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["student_id"], r["q1"], r["total"]) for r in rows] == [("s0", "2", "2"), ("s1", "2", "2"),
                                                                      ("s2", "2", "2")]

    # Graded again with nothing changed: applied at once, and it says so.
    out = io.StringIO()
    assert run_regrade(svc.settings, RegradeScope(assignment="hw1"), out=out, answer=io.StringIO(""), poll_s=0.2,
                       queue=svc.queue, timeout_s=60) == 0
    assert "no score changed; applied: 3 run(s) now current with the same points" in out.getvalue(), out.getvalue()
    assert "recorded as applied automatically" in out.getvalue()
    with transaction(svc.sessions) as s:  # the audit tells it from a reviewed apply
        last = s.scalars(select(ChangeSet).order_by(ChangeSet.id.desc())).first()
        assert last is not None and (last.status, last.auto_applied, last.decided_by_id) == ("applied", True, None)
        first = s.get(ChangeSet, last.id - 1)
        assert first is not None and (first.status, first.auto_applied) == ("applied", False)
