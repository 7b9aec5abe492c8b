"""The dashboard of a 600-student course on SQLite and PostgreSQL: tiles that count what they say, search,
filters, sorting and paging on the server, the estimated start of queued work, and the students' progress
charts. The estimate's model and the charts' markup are tested as pure functions too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from course_seed import (
    INSTRUCTOR_NAME,
    STAFF_PASSWORD,
    STUDENT_PASSWORD,
    TA_NAME,
    WORKERS,
    SeededCourse,
    seed_course,
    student_name,
)
from flask import Flask
from flask.testing import FlaskClient
from test_worker_support import throwaway_postgres

from nngrade.settings import Settings
from web import create_app
from web.services import dashboard as dash
from web.services.eta import Throughput, estimated_start_s, live_slots, typical_duration_s
from web.services.history import HistoryPoint, QuestionHistory, chart_svg

STUDENTS = 600


# The estimate, as a pure function ---------------------------------------------------------------------

@pytest.mark.parametrize(("ahead", "slots", "running", "expected"), [
    (0, 2, (), 0.0),  # a free slot: it starts now
    (0, 2, (30.0, 90.0), 10.0),  # both busy: the one 90 s into a 100 s run frees first
    (1, 2, (30.0, 90.0), 70.0),  # the next frees at 70 s
    (2, 2, (30.0, 90.0), 110.0),  # the first slot again, after one more typical run
    (5, 1, (), 500.0),  # five ahead on one slot
    (0, 1, (500.0,), 10.0),  # an overdue run is assumed to end soon, not now
])
def test_estimated_start_is_list_scheduling(ahead: int, slots: int, running: tuple[float, ...],
                                            expected: float) -> None:
    assert estimated_start_s(ahead, Throughput(100.0, running, slots)) == pytest.approx(expected)


def test_no_estimate_without_a_measure_or_a_worker() -> None:
    assert estimated_start_s(3, Throughput(None, (), 4)) is None
    assert estimated_start_s(3, Throughput(60.0, (), 0)) is None
    assert estimated_start_s(3, Throughput(60.0, (), None)) is None
    assert typical_duration_s([0.0, float("nan"), 30.0, 50.0, 70.0]) == 50.0
    assert live_slots(None, 0) is None and live_slots(None, 3) == 3
    assert live_slots(2, 5) == 5  # while work waits every live slot is busy: running counts are slots
    assert live_slots(0, 0) == 0


# The progress chart, as markup ------------------------------------------------------------------------

def test_history_chart_is_plain_inline_svg(tmp_path: Path) -> None:
    app = Flask(__name__)
    from web import i18n

    i18n.init_app(app)
    t0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    points = (HistoryPoint(1, t0, "error", 0, 6, None),
              HistoryPoint(2, t0 + timedelta(hours=1), "below_threshold", 2, 6, 0.31),
              HistoryPoint(3, t0 + timedelta(hours=2), "passed", 6, 6, 0.004))
    history = QuestionHistory("q1", "loss", 0.02, "<=", points)
    empty = QuestionHistory("q2", "accuracy", 0.97, ">=", ())
    with app.test_request_context(headers={"Accept-Language": "es"}):
        svg = chart_svg([history, empty])
    assert svg.count("<svg") == 1 and 'data-question="q1"' in svg  # q2 has nothing graded: no empty chart
    assert svg.count("<circle") == 2 and 'data-outcome="error"' in svg  # the error has no metric: a cross
    assert "style=" not in svg and "<script" not in svg  # the CSP allows neither
    assert "Pérdida por entrega" in svg and "objetivo" in svg and "0,004000" in svg
    # The goal line sits between the missed and the passed attempt on the log axis (lower loss is lower).
    ys = {o: float(y) for y, o in re.findall(r'cy="([\d.]+)"[^>]*data-outcome="(\w+)"', svg)}
    goal = re.search(r'y1="([\d.]+)" y2="[\d.]+" stroke="#1f2937" stroke-dasharray', svg)
    assert goal and ys["below_threshold"] < float(goal.group(1)) < ys["passed"]


def test_history_chart_escapes_what_it_prints() -> None:
    app = Flask(__name__)
    from web import i18n

    i18n.init_app(app)
    t0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    history = QuestionHistory('q<1>"', "accuracy", 0.97, ">=", (HistoryPoint(1, t0, "pa<ss>", 6, 6, 0.98),))
    with app.test_request_context(headers={"Accept-Language": "en"}):
        svg = chart_svg([history])
    assert "<1>" not in svg and "pa<ss>" not in svg and "&lt;" in svg


# Tiles, paging and sorting, as pure functions -----------------------------------------------------------

def test_filters_parse_and_link_back() -> None:
    f = dash.Filters.parse("  ana ", "running", "score", "desc", "3", "100")
    assert (f.query, f.status, f.sort, f.descending, f.page, f.per_page) == ("ana", "running", "score", True, 3, 100)
    assert f.args(page=1) == {"q": "ana", "status": "running", "sort": "score", "order": "desc", "per_page": 100}
    junk = dash.Filters.parse(None, "everything", "email", "sideways", "-2", "7")
    assert (junk.status, junk.sort, junk.descending, junk.page, junk.per_page) == ("all", "name", False, 1, 50)


# Over HTTP on both backends ----------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres])])
def course(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Flask, SeededCourse]]:
    tmp = tmp_path_factory.mktemp(f"dash-{request.param}")

    def build(url: str) -> Iterator[tuple[Flask, SeededCourse]]:
        seeded = seed_course(url, students=STUDENTS)
        settings = Settings(var_dir=tmp, database_url=url, storage_dir=tmp / "subs", data_dir=tmp,
                            secret_key="dash-test-" + "x" * 40, session_cookie_secure=False)

        class Queue:
            def publish(self, run_id: int, purpose: str) -> None:
                pass

        app = create_app(settings, Queue(), testing=True, limiter_storage_uri="memory://")
        yield app, seeded
        app.extensions["nngrade.db"].dispose()

    if request.param == "sqlite":
        yield from build(f"sqlite:///{tmp / 'db.sqlite3'}")
    else:
        with throwaway_postgres() as url:
            yield from build(url)


def _login(app: Flask, who: str, password: str, language: str = "en") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").text)
    assert token
    assert client.post("/login", data={"username": who, "password": password,
                                       "csrf_token": token.group(1)}).status_code == 302
    return client


def _students(html: str) -> list[str]:
    return re.findall(r'data-student="([^"]+)"', html)


def _tile(html: str, name: str) -> int:
    match = re.search(rf'data-tile="{name}"[^>]*><span>(\d+)</span>', html)
    assert match, name
    return int(match.group(1))


def test_tiles_count_students_by_their_latest_submission(course: tuple[Flask, SeededCourse]) -> None:
    app, seeded = course
    html = _login(app, TA_NAME, STAFF_PASSWORD).get("/dashboard/").text
    # "grading now" counts running work only, not what waits (the old tile showed both).
    assert (_tile(html, "queued"), _tile(html, "running"), _tile(html, "graded"), _tile(html, "failed"),
            _tile(html, "flagged")) == (seeded.queued, seeded.running, seeded.graded, seeded.failed, seeded.flagged)
    assert seeded.running < seeded.queued and seeded.flagged > 0 and seeded.failed > 0


def test_pages_of_students_with_search_filter_and_sort(course: tuple[Flask, SeededCourse]) -> None:
    app, seeded = course
    ta = _login(app, TA_NAME, STAFF_PASSWORD)
    first = ta.get("/dashboard/").text
    assert _students(first) == [student_name(i) for i in range(50)]
    assert f"Students 1–50 of {STUDENTS}" in first and "Page 1 of 12" in first
    last = ta.get("/dashboard/?page=12").text
    assert _students(last) == [student_name(i) for i in range(550, 600)]
    assert _students(ta.get("/dashboard/?page=99").text) == _students(last)  # past the end: the last page
    seen: list[str] = []
    for page in range(1, 4):
        seen += _students(ta.get(f"/dashboard/?per_page=200&page={page}").text)
    assert sorted(seen) == sorted(student_name(i) for i in range(STUDENTS))

    running = ta.get("/dashboard/?status=running").text
    assert len(_students(running)) == seeded.running
    flagged = _students(ta.get("/dashboard/?status=flagged").text)
    assert len(flagged) == seeded.flagged and student_name(3) in flagged
    assert _students(ta.get("/dashboard/?status=none").text)[:2] == [student_name(0), student_name(5)]

    # Search runs in SQL, on usernames and names, any case, accents kept.
    assert _students(ta.get("/dashboard/?q=S0123").text) == [student_name(123)]
    named = _students(ta.get("/dashboard/?q=%C3%93scar&per_page=200").text)  # "Óscar"
    assert named and all(int(u[1:]) % 20 == 13 for u in named)
    assert _students(ta.get("/dashboard/?q=%25").text) == []  # a LIKE wildcard is a literal

    # Sorting by score runs over every student, not one page: the top page holds the best scores.
    best = ta.get("/dashboard/?sort=score&order=desc&per_page=25").text
    scores = [int(s) for s in re.findall(r"<td>(\d+)/12", best)]
    assert scores and scores == sorted(scores, reverse=True) and scores[0] == 12
    worst = ta.get("/dashboard/?sort=score&order=asc&per_page=25").text
    assert "–" in worst and not re.findall(r"<td>12/12", worst)


def test_queue_estimates_for_staff_and_students(course: tuple[Flask, SeededCourse]) -> None:
    app, _ = course
    ta = _login(app, TA_NAME, STAFF_PASSWORD)
    queue = ta.get("/dashboard/queue.json").get_json()
    assert queue["workers"] == WORKERS  # from the workers' heartbeats in the gradebook, not the broker
    assert queue["typical_run_s"] == pytest.approx(140, abs=40)  # durations drawn from 40..240 s
    assert queue["next_start_s"] is not None and queue["last_start_s"] >= queue["next_start_s"]
    assert queue["texts"]["next_start_s"].startswith("about")
    html = ta.get("/dashboard/").text
    assert re.search(r'data-testid="next-start">about \d+ (s|min)<', html)

    # A queued student sees their position and when grading likely starts, in their language.
    queued = student_name(1)  # i % 40 == 1: the latest upload waits
    student = _login(app, queued, STUDENT_PASSWORD, "es")
    page = student.get("/assignments/nn/").text
    assert re.search(r"Posición \d+ en la cola; la calificación empieza en unos \d+ (s|min)", page), page
    sub = re.search(r'data-live-status="(/submissions/\d+/status.json)"', page)
    assert sub
    status = student.get(sub.group(1)).get_json()
    assert status["status"] == "queued" and status["estimated_start_s"] > 0
    assert status["position_text"].startswith(f"Posición {status['queue_position']} en la cola")


def test_student_and_staff_see_the_progress_chart(course: tuple[Flask, SeededCourse]) -> None:
    app, _ = course
    four = student_name(4)  # i % 5 == 4: four graded uploads
    page = _login(app, four, STUDENT_PASSWORD, "es").get("/assignments/nn/").text
    chart = page[page.index('data-testid="history-chart"'):]
    assert chart.count('data-question="q1"') == 1 and chart.count('data-question="q2"') == 1
    assert chart.count("<circle") + chart.count("<path d=") >= 8  # 4 submissions × 2 questions
    prof = _login(app, INSTRUCTOR_NAME, STAFF_PASSWORD)
    ids = re.search(rf'href="/dashboard/students/(\d+)\?assignment=nn"[^>]*>[^<]*</a> <span class="muted" '
                    rf'translate="no">{four}<', prof.get(f"/dashboard/?q={four}").text)
    assert ids
    staff_view = prof.get(f"/dashboard/students/{ids.group(1)}?assignment=nn").text
    assert 'data-testid="history-chart"' in staff_view and "<svg" in staff_view

    # An override counts in the chart as on the submission's page (the student's latest q1 set to 1 point).
    latest = max(int(n) for n in re.findall(r'href="/submissions/(\d+)"', page))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', prof.get(f"/submissions/{latest}").text)
    assert token
    assert prof.post(f"/instructor/submissions/{latest}/override/q1",
                     data={"q1-csrf_token": token.group(1), "q1-points": "1", "q1-reason": "checked by hand"}
                     ).status_code == 302
    page = _login(app, four, STUDENT_PASSWORD, "es").get("/assignments/nn/").text
    q1 = page[page.index('data-question="q1"'):]
    q1 = q1[:q1.index("</svg>")]
    assert "4 entregas calificadas;" in q1
    assert re.search(r"#4, [^<]*, 1/6 puntos", q1), q1
