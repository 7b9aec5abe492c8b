"""Staff see the integrity check in the running portal; the student does not.

Over HTTP against a served portal whose uploads are graded at once by the worker's own task through the Docker
sandbox: a student uploads a cheat, another the staff solution. The cheat keeps its 6/6; its submission is
flagged in the gradebook, counted in the dashboard's "flagged" tile and filter, marked on the student's staff
page, and its page shows staff the evidence. The student's own page, status and history show none of it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from i18n_support import untranslated
from portal_support import SECRET, Account, Browser, make_course, served_grading
from sqlalchemy import select

from gradebook.db import make_engine, make_sessionmaker
from gradebook.models import Submission, User
from nngrade.settings import Settings

REFERENCE = Path(__file__).resolve().parent.parent / "reference_solutions"
CHEATER = Account("carla", "carla-password-1", name="Carla Cheat")
HONEST = Account("hugo", "hugo-password-1", name="Hugo Honest")
TA = Account("tina", "tina-password-1", role="ta", name="Tina Tutor")
# Words of the staff section that must never reach the student.
STAFF_ONLY = ("Integrity check", "flagged", "Flagged", "copy", "Reason recorded")

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.mnist]


@pytest.fixture
def portal(tmp_path: Path, data_dir: Path, docker_engine: object) -> Iterator[tuple[str, Settings]]:
    """A portal on q2 whose published runs a worker's task grades at once, in this process, through Docker."""
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                        storage_dir=tmp_path / "subs", data_dir=data_dir, runner="docker", secret_key=SECRET,
                        session_cookie_secure=False, upload_min_interval_s=0)
    make_course(settings, [CHEATER, HONEST, TA], questions=("q2",))
    with served_grading(settings, join_timeout_s=900) as url:
        yield url, settings


def upload_and_wait(url: str, account: Account, path: Path) -> tuple[Browser, int]:
    browser = Browser(url)
    assert browser.log_in(account.username, account.password).status_code == 200
    page = browser.upload("nn", path.read_bytes())
    assert page.status_code == 200, page.text[-2000:]
    submission_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    deadline = time.monotonic() + 900
    while (state := browser.get(f"/submissions/{submission_id}/status.json").json())["pending"]:
        assert time.monotonic() < deadline, state
        time.sleep(1)
    assert state["status"] == "graded", state
    return browser, submission_id


def test_staff_see_a_flagged_cheat_and_the_evidence_and_its_student_sees_a_grade(portal: tuple[str, Settings]) -> None:
    url, settings = portal
    cheater, cheat_id = upload_and_wait(url, CHEATER, REFERENCE / "cheats" / "lookup_bytes.py")
    _, honest_id = upload_and_wait(url, HONEST, REFERENCE / "staff" / "models.py")

    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            reasons = dict(session.execute(select(Submission.id, Submission.flag_reason)).all())
            carla = session.scalar(select(User.id).where(User.username == CHEATER.username))
    finally:
        engine.dispose()
    assert reasons[honest_id] is None
    assert reasons[cheat_id] is not None and reasons[cheat_id].startswith("q2 attempt 1 (seed 0): accuracy 100.00%")

    ta = Browser(url)
    assert ta.log_in(TA.username, TA.password).status_code == 200
    dashboard = ta.get("/dashboard/").text
    assert re.search(r'tile-flagged[^>]*>\s*<span>1</span>', dashboard), "the flagged tile counts one student"
    flagged = ta.get("/dashboard/?status=flagged").text
    assert CHEATER.name in flagged and HONEST.name not in flagged
    student_page = ta.get(f"/dashboard/students/{carla}").text
    assert f'data-testid="flagged-{cheat_id}"' in student_page

    evidence = ta.get(f"/submissions/{cheat_id}").text
    section = evidence[evidence.index('data-testid="integrity"'):]
    assert "Integrity check" in section and "flagged for review" in section
    assert "100.00%" in section and "Reason recorded" in section
    # It passes on the graded images only: the stricter threshold applied.
    assert "threshold 1.50, for an attempt that passes on the graded images only" in section
    assert re.search(r"<strong>(9|10|11)\.\d\d points</strong>", section), "the gap, in points"
    honest_page = ta.get(f"/submissions/{honest_id}").text
    assert 'data-testid="integrity"' in honest_page and "flagged for review" not in honest_page

    # The student: 6/6 as always, and not a word of the check anywhere they look.
    own = cheater.get(f"/submissions/{cheat_id}").text
    assert 'data-testid="total-score"><strong>6</strong>' in own
    for path in (f"/submissions/{cheat_id}", f"/submissions/{cheat_id}/status.json", "/assignments/nn/",
                 "/submissions/"):
        shown = cheater.get(path).text
        assert not any(word in shown for word in STAFF_ONLY), path


def test_staff_read_the_evidence_in_spanish(portal: tuple[str, Settings]) -> None:
    """The section's words are translated; the recorded reason and the student's words are marked as not ours."""
    url, _ = portal
    _, cheat_id = upload_and_wait(url, CHEATER, REFERENCE / "cheats" / "positional_labels.py")
    ta = Browser(url)
    ta.http.headers["Accept-Language"] = "es"
    assert ta.log_in(TA.username, TA.password).status_code == 200
    page = ta.get(f"/submissions/{cheat_id}").text
    assert "Control de integridad" in page and "Motivo registrado" in page
    assert untranslated(page) == []

