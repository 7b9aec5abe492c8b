"""A Spanish course's spreadsheets through the installed `nngrade` script: a roster with Spanish headers
goes in, and `export --excel` comes out as a Spanish Excel opens it (semicolons, decimal commas, UTF-8 with a
byte-order mark), every cell still neutralised."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_cli_errors import accounts, nngrade

from gradebook import assignments, runs, submissions, users
from gradebook.db import make_engine, make_sessionmaker, transaction
from grader.report import Attempt, Environment, QuestionResult, Report


@pytest.fixture
def gradebook(tmp_path: Path) -> dict[str, str]:
    return {"NNGRADE_VAR_DIR": str(tmp_path / "var"), "NNGRADE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
            "NNGRADE_REDIS_URL": "redis://127.0.0.1:9/0"}


@pytest.mark.parametrize("separator", [",", ";"])
def test_a_roster_with_spanish_headers_is_imported(tmp_path: Path, gradebook: dict[str, str], separator: str) -> None:
    roster = tmp_path / "lista.csv"
    lines = ["Usuario;Nombre;Correo;Rol", "s1001;Íñigo Muñoz;inigo@example.es;student", "p1;Pilar Profe;;instructor"]
    roster.write_text("\n".join(line.replace(";", separator) for line in lines) + "\n", encoding="utf-8")
    done = nngrade("roster", "import", str(roster), "--credentials", str(tmp_path / "claves.csv"), cwd=tmp_path,
                   env=gradebook)
    assert done.returncode == 0, done.stderr
    assert "2 created" in done.stdout
    assert accounts(tmp_path) == [("p1", "Pilar Profe", None), ("s1001", "Íñigo Muñoz", "inigo@example.es")]


def _graded_late_student(database_url: str) -> None:
    """One student, =Ana (a name that starts like a formula), whose late upload scored 6 + 0 with 25 % off."""
    from gradebook.db import migrate

    migrate(database_url)
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    now = datetime.now(UTC)
    with transaction(factory) as session:
        ana = users.create_user(session, "s1", "=Ana Ñandú", "ana-password-1", "student")
        nn = assignments.create_assignment(session, "nn", "Redes", now - timedelta(days=1),
                                           late_due_at=now + timedelta(days=1), late_penalty_pct=25)
        sub, run = submissions.create_submission(session, ana, nn, b"x = 1\n",
                                                 submissions.UploadLimits(min_interval_s=0))
        run_id, sha = run.id, sub.sha256
    attempt = Attempt(seed=0, outcome="passed", points=6, sanity_passed=True, metric_value=0.001, detail="",
                      wall_s=1.0, cpu_s=1.0, peak_memory_mb=50.0)
    missed = Attempt(seed=0, outcome="below_threshold", points=0, sanity_passed=True, metric_value=0.5, detail="",
                     wall_s=1.0, cpu_s=1.0, peak_memory_mb=50.0)
    report = Report(sha, "models.py", Environment("local", "3.11", "1.26.4", "1"), {}, (
        QuestionResult("q1", "Regression", 6, 6, "passed", "loss", 0.001, 0.02, "<=", (attempt,), 0),
        QuestionResult("q2", "Digits", 0, 6, "below_threshold", "accuracy", 0.5, 0.97, ">=", (missed,), 0),
    ), 2.0)
    with transaction(factory) as session:
        assert runs.claim_run(session, run_id, "tok", lease_s=60).state == "claimed"
        for question in report.questions:  # as a worker stores them, one by one, then the report
            assert runs.record_question(session, run_id, "tok", question, report.environment)
        assert runs.finish_run(session, run_id, "tok", report)
    engine.dispose()


def test_export_for_a_spanish_excel_and_the_default_left_as_it_was(
    tmp_path: Path, gradebook: dict[str, str],
) -> None:
    _graded_late_student(gradebook["NNGRADE_DATABASE_URL"])
    default = nngrade("export", "nn", cwd=tmp_path, env=gradebook)
    assert default.returncode == 0, default.stderr
    rows = list(csv.DictReader(io.StringIO(default.stdout)))
    assert not default.stdout.startswith("\ufeff")
    assert (rows[0]["name"], rows[0]["q1"], rows[0]["total"]) == ("'=Ana Ñandú", "4.5", "4.5")

    out = tmp_path / "notas.csv"
    excel = nngrade("export", "nn", "--excel", "-o", str(out), cwd=tmp_path, env=gradebook)
    assert excel.returncode == 0, excel.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8's byte-order mark: Excel then reads the letters right
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert (rows[0]["student_id"], rows[0]["name"]) == ("s1", "'=Ana Ñandú")  # still neutralised
    assert (rows[0]["q1"], rows[0]["q2"], rows[0]["total"], rows[0]["max_total"]) == ("4,5", "0", "4,5", "12")
    assert rows[0]["late_penalty_pct"] == "25" and rows[0]["late"] == "yes"

    to_stdout = nngrade("export", "nn", "--excel", cwd=tmp_path, env=gradebook)
    assert to_stdout.stdout.encode() == data.replace(b"\r\n", b"\n")  # the same bytes (text mode reads CRLF as LF)

    helped = nngrade("export", "--help", cwd=tmp_path, env=gradebook)
    assert "--excel" in helped.stdout and "byte-order mark" in helped.stdout and "semicolons" in helped.stdout
