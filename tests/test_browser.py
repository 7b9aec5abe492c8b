"""The portal in real headless Chromium: a student uploads the staff solution and watches it reach 12/12,
then a TA finds it on the dashboard. Screenshots of the main pages go to artifacts/screenshots/.

Grading runs the worker's own task code (`worker.tasks.grade`) in a thread of the test process with the
local runner, instead of through Celery and Redis; the queue itself is tested in test_worker_queue.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from browser_support import headless_chromium, path_starts_with
from portal_support import served_grading

from gradebook import assignments, users
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction
from nngrade.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "artifacts" / "screenshots"
GRADING_TIMEOUT_S = 600
STUDENT, TA = ("s2001", "student-pass-1"), ("ta.browser", "ta-pass-1")
NEWCOMER = ("s2002", "handed-out-pass-1")  # must choose a password at first login


@dataclass
class Portal:
    url: str
    settings: Settings


@pytest.fixture
def portal(tmp_path: Path, data_dir: Path) -> Iterator[Portal]:
    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    migrate(url)
    settings = Settings(var_dir=tmp_path, database_url=url, storage_dir=tmp_path / "submissions",
                        data_dir=data_dir, runner="local", secret_key="browser-test-" + "k" * 40,
                        session_cookie_secure=False, upload_min_interval_s=0, worker_concurrency=1)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        users.create_user(session, STUDENT[0], "Grace Student", STUDENT[1], "student", must_change_password=False)
        users.create_user(session, TA[0], "Tess Assistant", TA[1], "ta", must_change_password=False)
        users.create_user(session, NEWCOMER[0], "Nico Newcomer", NEWCOMER[1], "student")
        assignments.create_assignment(session, "nn", "Neural networks", datetime.now(UTC) + timedelta(days=7))
    engine.dispose()
    with served_grading(settings, join_timeout_s=GRADING_TIMEOUT_S) as base_url:
        yield Portal(base_url, settings)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    with headless_chromium(tmp_path / "chromium-profile") as driver:
        yield driver


def _shot(driver: object, name: str) -> None:
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(driver, WebDriver)
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 700), 4000))
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1280, 1000)


def _login(driver: object, portal: Portal, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(driver, WebDriver)
    driver.get(portal.url + "/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()


def test_student_uploads_staff_solution_and_ta_sees_it(portal: Portal, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    assert isinstance(driver, WebDriver)
    driver.get(portal.url + "/login")
    _shot(driver, "01-login")

    _login(driver, portal, *STUDENT)
    WebDriverWait(driver, 10).until(path_starts_with("/submissions/"))
    _shot(driver, "02-student-assignments")
    driver.find_element(By.CSS_SELECTOR, "[data-testid=assignment-nn] h2 a").click()
    WebDriverWait(driver, 10).until(path_starts_with("/assignments/nn/"))
    assert driver.find_element(By.CSS_SELECTOR, "[data-testid=assignment-title]").text == "Neural networks"
    _shot(driver, "02b-assignment-empty")

    # A syntax error is refused at once, with its line.
    broken = portal.settings.var_dir / "broken" / "models.py"
    broken.parent.mkdir()
    broken.write_text("class RegressionModel:\n    def run(self, x)\n        return x\n")
    driver.find_element(By.ID, "models_py").send_keys(str(broken))
    driver.find_element(By.CSS_SELECTOR, "form.upload button[type=submit]").click()
    error = WebDriverWait(driver, 10).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=upload-error]")))
    assert "Syntax error on line 2" in error.text
    _shot(driver, "03-upload-syntax-error")

    driver.find_element(By.ID, "models_py").send_keys(str(REPO / "reference_solutions" / "staff" / "models.py"))
    driver.find_element(By.CSS_SELECTOR, "form.upload button[type=submit]").click()
    WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-live-status]")))
    _shot(driver, "04-submission-live-status")
    # live.js reloads the page when grading ends; the total then appears.
    score = WebDriverWait(driver, GRADING_TIMEOUT_S, poll_frequency=2).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=total-score]")))
    assert score.text.replace(" ", "") == "12/12"
    for q in ("q1", "q2"):
        section = driver.find_element(By.CSS_SELECTOR, f"[data-testid=question-{q}]")
        assert "6/6 points" in section.text.replace("\n", " ")
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"))
    assert len(driver.find_elements(By.CSS_SELECTOR, ".charts img")) == 4
    _shot(driver, "05-result-12-of-12")

    driver.get(portal.url + "/submissions/")
    assert "12" in driver.find_element(By.CSS_SELECTOR, "[data-testid=current-grade]").text
    _shot(driver, "06-student-history")
    driver.get(portal.url + "/kit/")
    _shot(driver, "07-starter-kit")
    driver.find_element(By.CSS_SELECTOR, "form.whoami button").click()
    WebDriverWait(driver, 10).until(path_starts_with("/login"))

    _login(driver, portal, *TA)
    WebDriverWait(driver, 10).until(path_starts_with("/dashboard/"))
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-student='{STUDENT[0]}']")
    assert "12/12" in row.text
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"))
    _shot(driver, "08-ta-dashboard")
    row.find_element(By.CSS_SELECTOR, "td a").click()
    WebDriverWait(driver, 10).until(path_starts_with("/dashboard/students/"))
    _shot(driver, "09-ta-student-drilldown")
    driver.get(portal.url + "/submissions/")
    assert "403" in driver.page_source
    _shot(driver, "10-forbidden")


def test_first_login_asks_for_a_new_password(portal: Portal, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    assert isinstance(driver, WebDriver)
    _login(driver, portal, *NEWCOMER)
    WebDriverWait(driver, 10).until(path_starts_with("/account/password"))
    assert "Choose your own password" in driver.find_element(By.TAG_NAME, "h1").text
    _shot(driver, "11-first-login-password")
    # Nothing else opens until the password is chosen.
    driver.get(portal.url + "/assignments/nn/")
    WebDriverWait(driver, 10).until(path_starts_with("/account/password"))

    def fill(current: str, new: str, confirm: str) -> None:
        for field, value in (("current_password", current), ("new_password", new), ("confirm", confirm)):
            box = driver.find_element(By.ID, field)
            box.clear()
            box.send_keys(value)
        driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()

    fill(NEWCOMER[1], "a-new-pass-77", "a-different-77")
    error = WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".field-error")))
    assert "The two new passwords differ." in error.text
    _shot(driver, "12-password-mismatch")
    fill(NEWCOMER[1], "a-new-pass-77", "a-new-pass-77")
    # Back to the page that was asked for before the change.
    WebDriverWait(driver, 10).until(path_starts_with("/assignments/nn/"))
    assert "Your password is changed" in driver.find_element(By.CSS_SELECTOR, ".flash-success").text
    assert driver.find_element(By.CSS_SELECTOR, "[data-testid=assignment-title]").text == "Neural networks"
    _shot(driver, "13-after-password-change")

    # Signed out, the handed-out password no longer works; the new one does, with no second change asked.
    driver.find_element(By.CSS_SELECTOR, "form.whoami button").click()
    WebDriverWait(driver, 10).until(path_starts_with("/login"))
    _login(driver, portal, *NEWCOMER)
    error = WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".field-error")))
    assert "Wrong username or password" in error.text
    _login(driver, portal, NEWCOMER[0], "a-new-pass-77")
    WebDriverWait(driver, 10).until(path_starts_with("/submissions/"))
    assert "/account/password" not in driver.current_url
