"""`nngrade canary` against a real portal over HTTP: sign-in with the page's CSRF token, a first login that
must choose a password, refused sign-ins, uploads, status polling and the result page, for the staff solution
and hostile files. Grading runs the worker's task code in a thread with the local runner (the sandbox's own
battery is tests/test_sandbox_hostile.py; the canary through compose is tests/test_compose_e2e.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from portal_support import SECRET, Account, make_course, served_grading

from cli.canary import CanaryOptions, load_cases, print_table, run_canary, select_cases
from cli.canary_portal import CanaryError, Portal, csrf_token
from nngrade.settings import Settings

SLUG = "nn"
CASES = "staff,forge_result,exit_early"
ACCOUNTS = [Account("canary-staff", "canary-pass-1"), Account("canary-hostile", "canary-pass-2")]
NEWCOMER = Account("s3001", "handed-out-1", must_change_password=True)  # canary- accounts are never forced


@dataclass(frozen=True)
class Served:
    url: str
    settings: Settings


@pytest.fixture
def portal(tmp_path: Path, data_dir: Path) -> Iterator[Served]:
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                        redis_url="redis://127.0.0.1:1/0", storage_dir=tmp_path / "subs", data_dir=data_dir,
                        runner="local", secret_key=SECRET, session_cookie_secure=False, upload_min_interval_s=0)
    make_course(settings, [*ACCOUNTS, NEWCOMER], slugs=((SLUG, "Neural networks"),))
    with served_grading(settings) as url:
        yield Served(url, settings)


def test_the_csrf_token_is_read_from_the_form_field() -> None:
    page = ('<form><input id="csrf_token" name="csrf_token" type="hidden" value="Ij1.a-b_c"></form>'
            '<input name="csrf_token" value="second">')
    assert csrf_token(page) == "Ij1.a-b_c"
    assert csrf_token('<input value="x" name="csrf_token">') == "x"
    assert csrf_token('<input name="username" value="x">') is None


@pytest.mark.slow
@pytest.mark.mnist
def test_the_canary_grades_its_cases_through_the_portal(portal: Served) -> None:
    cases = select_cases(load_cases(), CASES)
    accounts = [(a.username, a.password) for a in ACCOUNTS]
    lines: list[str] = []
    outcomes = run_canary(cases, accounts, CanaryOptions(url=portal.url, assignment=SLUG, timeout_s=600, poll_s=0.5),
                          log=lines.append)
    table = io.StringIO()
    print_table(outcomes, table)
    assert all(o.ok for o in outcomes), table.getvalue()
    assert {o.case.name: {q: o.got.get(q) for q in o.case.expected} for o in outcomes} == {
        "staff": {"q1": ("ok", 6), "q2": ("ok", 6)},
        "forge_result": {"q1": ("bad_output", 0)},
        "exit_early": {"q1": ("crashed", 2)},
    }
    assert all(o.submission_id is not None for o in outcomes)
    assert any("submission #" in line for line in lines)


@pytest.mark.slow
def test_sign_in_refusals_and_a_first_login(portal: Served) -> None:
    with pytest.raises(CanaryError, match="refused"):
        Portal(portal.url).log_in(ACCOUNTS[0].username, "wrong password")
    with pytest.raises(CanaryError, match="must choose a new password"):
        Portal(portal.url).log_in(NEWCOMER.username, NEWCOMER.password)
    Portal(portal.url).log_in(NEWCOMER.username, NEWCOMER.password, new_password="chosen-by-canary-1")
    student = Portal(portal.url)
    student.log_in(NEWCOMER.username, "chosen-by-canary-1")
    assert student.get(f"assignments/{SLUG}/").status_code == 200
    # A file Python would refuse is refused at once with the reason; the portal keeps answering.
    submission_id, status, body = student.upload(b"def broken(:\n", SLUG)
    assert submission_id is None and status == 422 and "models.py" in body
    # A student cannot see another's submission, and an unknown one is the same 404.
    with pytest.raises(CanaryError, match="HTTP 404"):
        student.status(999)
