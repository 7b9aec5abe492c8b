"""The portal's journeys in real headless Chromium, in Spanish and in English, with screenshots in
artifacts/screenshots/i18n-*.png:

- a student signs in, uploads the staff solution, watches it graded, reads the result with its pictures,
  and downloads the starter kit; the Spanish student chose the language with the header's switch;
- a TA works a 600-student course: tiles, paging, search, sorting, a student's progress chart.

Every page of a Spanish journey holds no English (tests/i18n_support.py). Grading runs the worker's task code
in a thread with the local runner, as in test_browser.py.
"""

from __future__ import annotations

import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_support import headless_chromium, path_starts_with
from course_seed import STAFF_PASSWORD, TA_NAME, seed_course, student_name
from i18n_support import untranslated
from portal_support import RecordingQueue, served, served_grading

from gradebook import assignments, users
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction
from nngrade.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "artifacts" / "screenshots"
GRADING_TIMEOUT_S = 600
STUDENTS = {"es": ("s3001", "Lucía Estudiante", "clave-estudiante-1"),
            "en": ("s3002", "Grace Student", "student-pass-2")}


@dataclass
class Portal:
    url: str
    settings: Settings


@pytest.fixture
def grading_portal(tmp_path: Path, data_dir: Path) -> Iterator[Portal]:
    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    migrate(url)
    settings = Settings(var_dir=tmp_path, database_url=url, storage_dir=tmp_path / "submissions",
                        data_dir=data_dir, runner="local", secret_key="browser-i18n-" + "k" * 40,
                        session_cookie_secure=False, upload_min_interval_s=0, worker_concurrency=1)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        for username, name, password in STUDENTS.values():
            users.create_user(session, username, name, password, "student", must_change_password=False)
        assignments.create_assignment(session, "nn", "Redes neuronales", datetime.now(UTC) + timedelta(days=7))
    engine.dispose()
    with served_grading(settings, join_timeout_s=GRADING_TIMEOUT_S) as base_url:
        yield Portal(base_url, settings)


@pytest.fixture
def large_course(tmp_path: Path) -> Iterator[Portal]:
    url = f"sqlite:///{tmp_path / 'course.sqlite3'}"
    seed_course(url, students=600)
    settings = Settings(var_dir=tmp_path, database_url=url, storage_dir=tmp_path / "submissions",
                        data_dir=tmp_path, secret_key="browser-course-" + "k" * 40, session_cookie_secure=False)
    with served(settings, RecordingQueue(), limiter_storage_uri="memory://") as base_url:  # nothing is graded
        yield Portal(base_url, settings)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    prefs = {"download.default_directory": str(downloads), "download.prompt_for_download": False,
             "intl.accept_languages": "en-US,en"}
    with headless_chromium(tmp_path / "chromium-profile", flags=("--lang=en-US",), prefs=prefs) as driver:
        driver.downloads = downloads
        yield driver


def _shot(driver: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 700), 4000))
    driver.save_screenshot(str(SHOTS / f"i18n-{name}.png"))
    driver.set_window_size(1280, 1000)


def _check_language(driver: Any, language: str) -> None:
    """The page is in `language`; a Spanish one holds no English."""
    assert driver.find_element("tag name", "html").get_attribute("lang") == language, driver.current_url
    if language == "es":
        assert untranslated(driver.page_source) == [], driver.current_url


def _switch_to_spanish(driver: Any) -> None:
    """Press the header's "Español" and wait for the page that comes back (the old one goes stale meanwhile)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.CSS_SELECTOR, "form.language button[value=es]").click()
    WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es")


def _images_loaded(driver: Any) -> bool:
    # Lazy images load once in view: the window is as tall as the page while this waits.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 700), 4000))
    return bool(driver.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"))


@pytest.mark.parametrize("language", ["es", "en"])
def test_student_journey(grading_portal: Portal, browser: Any, language: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    username, _name, password = STUDENTS[language]
    driver.get(grading_portal.url + "/login")
    if language == "es":  # the browser asks for English; the student switches in the header
        _switch_to_spanish(driver)
    _check_language(driver, language)
    _shot(driver, f"{language}-01-login")

    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(driver, 10).until(path_starts_with("/submissions/"))
    _check_language(driver, language)
    _shot(driver, f"{language}-02-assignments")

    driver.find_element(By.CSS_SELECTOR, "[data-testid=assignment-nn] h2 a").click()
    WebDriverWait(driver, 10).until(path_starts_with("/assignments/nn/"))
    _check_language(driver, language)
    broken = grading_portal.settings.var_dir / f"broken-{language}" / "models.py"
    broken.parent.mkdir()
    broken.write_text("class RegressionModel:\n    def run(self, x)\n        return x\n")
    driver.find_element(By.ID, "models_py").send_keys(str(broken))
    driver.find_element(By.CSS_SELECTOR, "form.upload button[type=submit]").click()
    error = WebDriverWait(driver, 10).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=upload-error]")))
    assert ("Error de sintaxis en la línea 2" if language == "es" else "Syntax error on line 2") in error.text
    _check_language(driver, language)
    _shot(driver, f"{language}-03-upload-refused")

    driver.find_element(By.ID, "models_py").send_keys(str(REPO / "reference_solutions" / "staff" / "models.py"))
    driver.find_element(By.CSS_SELECTOR, "form.upload button[type=submit]").click()
    WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-live-status]")))
    flash = driver.find_element(By.CSS_SELECTOR, ".flash-success").text
    assert ("recibida y en cola" if language == "es" else "received and queued") in flash
    _check_language(driver, language)
    _shot(driver, f"{language}-04-watching")
    # live.js rewrites the status with the server's sentences, then reloads when grading ends.
    score = WebDriverWait(driver, GRADING_TIMEOUT_S, poll_frequency=2).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=total-score]")))
    assert score.text.replace(" ", "") == "12/12"
    WebDriverWait(driver, 30).until(_images_loaded)
    assert len(driver.find_elements(By.CSS_SELECTOR, ".charts img")) == 4
    q2 = driver.find_element(By.CSS_SELECTOR, "[data-testid=question-q2] .metric").text
    # The accuracy in the locale's notation: "98,12 %" / "98.12%".
    assert re.search(r"\d\d,\d\d\s%" if language == "es" else r"\d\d\.\d\d%", q2), q2
    _check_language(driver, language)
    _shot(driver, f"{language}-05-result")

    driver.get(grading_portal.url + "/assignments/nn/")
    chart = driver.find_element(By.CSS_SELECTOR, "[data-testid=history-chart]")
    assert len(chart.find_elements(By.CSS_SELECTOR, "svg")) == 2
    _check_language(driver, language)
    _shot(driver, f"{language}-06-history")

    driver.get(grading_portal.url + "/kit/")
    _check_language(driver, language)
    _shot(driver, f"{language}-07-kit")
    driver.find_element(By.CSS_SELECTOR, "a[download]").click()
    archive = driver.downloads / "nngrade-starter-kit.zip"
    deadline = time.monotonic() + 30
    while not archive.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    with zipfile.ZipFile(archive) as kit:
        assert {"nngrade-kit/nn.py", "nngrade-kit/check.py", "nngrade-kit/models.py"} <= set(kit.namelist())
        readme = kit.read("nngrade-kit/README.md").decode()
    # The kit's README speaks the language the student chose on the page.
    assert readme.startswith("# Kit de inicio" if language == "es" else "# Starter kit"), readme[:80]


@pytest.mark.parametrize("language", ["es", "en"])
def test_ta_works_a_600_student_course(large_course: Portal, browser: Any, language: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    driver.get(large_course.url + "/login")
    if language == "es":
        _switch_to_spanish(driver)
    driver.find_element(By.ID, "username").send_keys(TA_NAME)
    driver.find_element(By.ID, "password").send_keys(STAFF_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(driver, 10).until(path_starts_with("/dashboard/"))
    WebDriverWait(driver, 60).until(_images_loaded)
    rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-student]")
    assert len(rows) == 50
    info = driver.find_element(By.CSS_SELECTOR, "[data-testid=page-info]").text
    assert ("de 600" if language == "es" else "of 600") in info
    _check_language(driver, language)
    _shot(driver, f"{language}-10-dashboard")

    driver.find_element(By.CSS_SELECTOR, "[data-testid=pager] a[rel=next]").click()
    WebDriverWait(driver, 10).until(ec.url_contains("page=2"))
    first = driver.find_elements(By.CSS_SELECTOR, "tr[data-student]")[0]
    assert first.get_attribute("data-student") == student_name(50)
    _check_language(driver, language)

    driver.find_element(By.CSS_SELECTOR, "a[data-tile=running]").click()
    WebDriverWait(driver, 10).until(ec.url_contains("status=running"))
    tile = int(driver.find_element(By.CSS_SELECTOR, "a[data-tile=running] span").text)
    assert len(driver.find_elements(By.CSS_SELECTOR, "tr[data-student]")) == tile > 0
    _check_language(driver, language)
    _shot(driver, f"{language}-11-running")

    driver.get(large_course.url + "/dashboard/?sort=score&order=desc")
    search = driver.find_element(By.ID, "q")
    search.send_keys(student_name(4))
    driver.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
    WebDriverWait(driver, 10).until(ec.url_contains("q=" + student_name(4)))
    rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-student]")
    assert [r.get_attribute("data-student") for r in rows] == [student_name(4)]
    _check_language(driver, language)
    rows[0].find_element(By.CSS_SELECTOR, "td a").click()
    WebDriverWait(driver, 10).until(path_starts_with("/dashboard/students/"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "[data-testid=history-chart] svg")) == 2
    _check_language(driver, language)
    _shot(driver, f"{language}-12-student-progress")
