"""Every CSV nngrade writes neutralises cells a spreadsheet would evaluate (one helper, a test per writer:
the LMS export, the dashboard's CSV, the roster credentials file); exports hold graded students only; the
pages escape HTML that students control."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from portal_support import REPO, SECRET, Account, Browser, RecordingQueue, make_course, served, settings_env

from gradebook import users
from gradebook.csvcells import FORMULA_STARTS, safe_cell
from gradebook.roster import write_credentials
from nngrade.settings import Settings

HOSTILE = [
    Account("=cmd", "student-pass-01", name='=HYPERLINK("http://evil.example","x")'),
    Account("+sum", "student-pass-02", name="+1+1"),
    Account("-minus", "student-pass-03", name="-2+3"),
    Account("@at", "student-pass-04", name="@SUM(A1)"),
    Account("tabby", "student-pass-05", name="\tTab"),
    Account("carriage", "student-pass-06", name="\rReturn"),
    Account("html", "student-pass-07", name="<script>alert(1)</script><b>Bold</b>"),
    Account("plain", "student-pass-08", name="Ada Lovelace"),
]
STAFF = [Account("tara", "ta-password-01", role="ta"), Account("ivan", "in-password-01", role="instructor"),
         Account("canary-staff", "canary-pass-01")]


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("plain", "plain"), ("a=b", "a=b"), ("", ""), (None, ""), (12, "12"), ("'quoted", "'quoted"),
])
def test_safe_cell(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def _assert_neutral(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows
    for row in rows:
        for value in row.values():
            assert not value.startswith(FORMULA_STARTS), (value, row)
    return rows


@pytest.fixture
def course(tmp_path: Path) -> Settings:
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                        storage_dir=tmp_path / "subs", data_dir=tmp_path / "data", secret_key=SECRET,
                        session_cookie_secure=False)
    make_course(settings, [*HOSTILE, *STAFF])
    return settings


def _students_only(rows: list[dict[str, str]]) -> None:
    ids = {r["student_id"] for r in rows}
    assert ids == {"'=cmd", "'+sum", "'-minus", "'@at", "tabby", "carriage", "html", "plain"}
    names = {r["student_id"]: r["name"] for r in rows}
    assert names["'=cmd"] == "'=HYPERLINK(\"http://evil.example\",\"x\")" and names["plain"] == "Ada Lovelace"


def test_lms_export_from_the_cli(course: Settings) -> None:
    out = course.var_dir / "grades.csv"
    done = subprocess.run([sys.executable, "-m", "cli.main", "export", "nn", "-o", str(out)],
                          cwd=REPO, env=settings_env(course), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    _students_only(_assert_neutral(out.read_text(encoding="utf-8")))


def test_dashboard_csv_and_pages_escape_html(course: Settings) -> None:
    with served(course, RecordingQueue(), limiter_storage_uri="memory://") as url:
        ta = Browser(url)
        ta.log_in("tara", "ta-password-01")
        response = ta.get("/dashboard/export.csv?assignment=nn")
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
        _students_only(_assert_neutral(response.text))
        page = ta.get("/dashboard/").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;Bold&lt;/b&gt;" in page
        assert "<script>alert(1)" not in page and "<b>Bold</b>" not in page
        assert 'data-student="canary-staff"' not in page and 'data-student="tara"' not in page
        student = Browser(url)
        student.log_in("html", "student-pass-07")
        home = student.get("/submissions/").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in home and "<script>alert(1)" not in home


def test_roster_credentials_file(tmp_path: Path, course: Settings) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text('username,name,role\n"=2+3",Evil,student\n@bob,Bob,student\nokay,Okay,student\n'
                      "canary-staff-two,Canary,student\n", encoding="utf-8")
    credentials = tmp_path / "creds.csv"
    done = subprocess.run([sys.executable, "-m", "cli.main", "roster", "import", str(roster), "--credentials",
                           str(credentials)], cwd=REPO, env=settings_env(course), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(credentials.read_text())))
    assert [r["username"] for r in rows] == ["'=2+3", "'@bob", "okay", "canary-staff-two"]
    for row in rows:
        assert not row["password"].startswith(FORMULA_STARTS) and not row["password"].startswith("'")
    # Written as read: what the file says is the password that signs in (no neutralising quote inside).
    with served(course, RecordingQueue(), limiter_storage_uri="memory://") as url:
        landed = Browser(url).log_in("okay", rows[2]["password"])
        assert landed.status_code == 200 and "/account/password" in landed.url  # a first login
        canary = Browser(url).log_in("canary-staff-two", rows[3]["password"])
        assert canary.url.endswith("/submissions/")  # probe accounts are never forced to change


def test_write_credentials_neutralises_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "creds.csv"
    write_credentials(path, [("=evil", "abc"), ("fine", "-weird")])
    assert path.read_bytes() == b"username,password\r\n'=evil,abc\r\nfine,'-weird\r\n"
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        write_credentials(path, [])


def test_new_passwords_never_start_like_a_formula() -> None:
    for _ in range(3000):
        password = users.new_password()
        assert password[0].isalnum() and len(password) == 16
