"""Every route × every role, guessed ids, CSRF, upload validation and the rate-limit message."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_worker_support import throwaway_postgres

from gradebook import assignments, retries, runs, submissions, users
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction
from gradebook.models import GradingRun
from grader.report import Attempt, Environment, QuestionResult, Report
from nngrade.settings import Settings
from web import create_app
from web.charts import regression_x

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-1", "tara": "tara-pw-1", "ivan": "ivan-pw-1"}
ROLES = {"alice": "student", "bob": "student", "tara": "ta", "ivan": "instructor"}


def _report(sha: str, q1_loss: float = 0.004, q2_acc: float = 0.975) -> Report:
    x = regression_x()
    q1 = Attempt(seed=0, outcome="passed", points=6, sanity_passed=True, metric_value=q1_loss,
                 detail="Loss 0.004 meets the goal.", wall_s=3.2, cpu_s=3.0, peak_memory_mb=80.0,
                 log_excerpt="epoch 1 loss 0.3\n", epochs=40, predictions=tuple(float(v) for v in np.sin(x) * 0.98))
    preds = tuple(float(i % 10) for i in range(5000))
    q2 = Attempt(seed=0, outcome="passed", points=6, sanity_passed=True, metric_value=q2_acc,
                 detail="Accuracy meets the goal.", wall_s=30.0, cpu_s=29.0, peak_memory_mb=400.0,
                 validation_accuracy=(0.9, 0.97), predictions=preds)
    questions = (
        QuestionResult("q1", "Regression", 6, 6, "passed", "loss", q1_loss, 0.02, "<=", (q1,), 0),
        QuestionResult("q2", "Digit classification", 6, 6, "passed", "accuracy", q2_acc, 0.97, ">=", (q2,), 0),
    )
    env = Environment(runner="local", python_version="3.11", numpy_version="1.26.4", kit_version="1.0")
    return Report(submission_sha256=sha, submission_name="models.py", environment=env, config={},
                  questions=questions, wall_s=33.2)


class RecordingQueue:
    """The portal's queue without a broker: records what would be published (the queue has its own tests)."""

    def __init__(self) -> None:
        self.published: list[tuple[int, str]] = []

    def publish(self, run_id: int, purpose: str) -> None:
        self.published.append((run_id, purpose))


@dataclass
class Course:
    app: Flask
    settings: Settings
    ids: dict[str, int]
    alice_sub: int  # graded
    bob_sub: int  # queued
    enqueued: list[tuple[int, str]]
    queue: RecordingQueue


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every route on both backends: the pages' queries run as written on each."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite3'}"
        return
    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def course(tmp_path: Path, database_url: str) -> Iterator[Course]:
    url = database_url
    migrate(url)
    data_dir = tmp_path / "data"
    (data_dir / "private").mkdir(parents=True)
    (data_dir / "public").mkdir(parents=True)
    np.save(data_dir / "private" / "test_labels.npy", (np.arange(5000) * 7 % 10).astype(np.uint8))
    np.save(data_dir / "public" / "test_images.npy", np.random.RandomState(1).rand(5000, 784))
    settings = Settings(var_dir=tmp_path, database_url=url, storage_dir=tmp_path / "subs", data_dir=data_dir,
                        secret_key="test-secret-" + "x" * 40, session_cookie_secure=False,
                        upload_min_interval_s=60, uploads_per_day=30)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    ids: dict[str, int] = {}
    limits = submissions.UploadLimits(min_interval_s=0)
    with transaction(factory) as session:
        for name, role in ROLES.items():
            ids[name] = users.create_user(session, name, name.title(), PASSWORDS[name], role,
                                          must_change_password=False).id
        assignment = assignments.create_assignment(session, "nn", "Neural networks",
                                                   datetime.now(UTC) + timedelta(days=7))
        alice = session.get(users.User, ids["alice"])
        bob = session.get(users.User, ids["bob"])
        assert alice is not None and bob is not None
        a_sub, a_run = submissions.create_submission(session, alice, assignment,
                                                     b"# alice\nx = 1\n", limits,
                                                     now=datetime.now(UTC) - timedelta(hours=2))
        b_sub, _ = submissions.create_submission(session, bob, assignment,
                                                 b"# bob\ny = 2\n", limits,
                                                 now=datetime.now(UTC) - timedelta(hours=2))
        a_id, b_id, a_run_id, sha = a_sub.id, b_sub.id, a_run.id, a_sub.sha256
    with transaction(factory) as session:
        assert runs.claim_run(session, a_run_id, "tok", lease_s=60).state == "claimed"
        assert runs.finish_run(session, a_run_id, "tok", _report(sha))
    queue = RecordingQueue()
    engine.dispose()
    app = create_app(settings, queue, testing=True, limiter_storage_uri="memory://")
    yield Course(app, settings, ids, a_id, b_id, queue.published, queue)
    app.extensions["nngrade.db"].dispose()


def login(app: Flask, who: str | None) -> FlaskClient:
    client = app.test_client()
    if who is None:
        return client
    page = client.get("/login")
    token = _csrf(page.text)
    response = client.post("/login", data={"username": who, "password": PASSWORDS[who], "csrf_token": token})
    assert response.status_code == 302, response.text
    return client


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


WHO = (None, "alice", "bob", "tara", "ivan")


def _routes(c: Course) -> list[tuple[str, str, dict[str | None, int]]]:
    """(method, path, expected status per role). 302 for anonymous = sent to the login page."""
    a, b = c.alice_sub, c.bob_sub
    anon = 302
    own_a = {None: anon, "alice": 200, "bob": 404, "tara": 200, "ivan": 200}
    staff = {None: anon, "alice": 403, "bob": 403, "tara": 200, "ivan": 200}
    everyone = {None: anon, "alice": 200, "bob": 200, "tara": 200, "ivan": 200}
    return [
        ("GET", "/login", {None: 200, "alice": 302, "bob": 302, "tara": 302, "ivan": 302}),
        ("GET", "/", {None: 302, "alice": 302, "bob": 302, "tara": 302, "ivan": 302}),
        ("GET", "/submissions/", {None: anon, "alice": 200, "bob": 200, "tara": 403, "ivan": 403}),
        ("GET", "/assignments/nn/", {None: anon, "alice": 200, "bob": 200, "tara": 403, "ivan": 403}),
        ("GET", "/assignments/nope/", {None: anon, "alice": 404, "bob": 404, "tara": 403, "ivan": 403}),
        ("GET", "/account/password", {None: anon, "alice": 200, "bob": 200, "tara": 200, "ivan": 200}),
        ("GET", f"/submissions/{a}", own_a),
        ("GET", f"/submissions/{a}/status.json", own_a),
        ("GET", f"/submissions/{a}/models.py", own_a),
        ("GET", f"/submissions/{a}/charts/q1-curve.png", own_a),
        ("GET", f"/submissions/{a}/charts/q2-confusion.png", own_a),
        ("GET", f"/submissions/{a}/charts/q2-digits.png", own_a),
        ("GET", f"/submissions/{a}/charts/q2-misclassified.png", own_a),
        ("GET", f"/submissions/{b}", {None: anon, "alice": 404, "bob": 200, "tara": 200, "ivan": 200}),
        ("GET", f"/submissions/{b}/models.py", {None: anon, "alice": 404, "bob": 200, "tara": 200, "ivan": 200}),
        ("GET", "/submissions/9999", {None: anon, "alice": 404, "bob": 404, "tara": 404, "ivan": 404}),
        ("GET", "/submissions/9999/status.json", {None: anon, "alice": 404, "bob": 404, "tara": 404, "ivan": 404}),
        ("GET", "/kit/", everyone),
        ("GET", "/kit/nn/nngrade-starter-kit.zip", everyone),
        ("GET", "/kit/nope/nngrade-starter-kit.zip", {None: anon, "alice": 404, "bob": 404, "tara": 404, "ivan": 404}),
        # This course's data directory holds no MNIST cache: the data is refused, the kit is not.
        ("GET", "/kit/mnist-public.npz", {None: anon, "alice": 503, "bob": 503, "tara": 503, "ivan": 503}),
        ("GET", "/kit/data/forged/mnist-public.npz", {w: 403 for w in WHO}),
        ("GET", "/dashboard/", staff),
        ("GET", f"/dashboard/students/{c.ids['alice']}", staff),
        ("GET", "/dashboard/queue.json", staff),
        ("GET", "/dashboard/export.csv", staff),
        ("GET", "/dashboard/export.csv?assignment=nn", staff),
        ("GET", "/dashboard/?assignment=nope", {None: anon, "alice": 403, "bob": 403, "tara": 404, "ivan": 404}),
        ("GET", "/dashboard/audit", staff),
        *[("GET", f"/dashboard/charts/{n}.png", staff)
          for n in ("scores", "losses", "accuracies", "runtimes", "failures")],
    ]


def test_every_get_route_for_every_role(course: Course) -> None:
    failures = []
    for who in WHO:
        client = login(course.app, who)
        for method, path, expected in _routes(course):
            response = client.open(path, method=method)
            if response.status_code != expected[who]:
                failures.append(f"{who or 'anonymous'} {method} {path}: {response.status_code} != {expected[who]}")
    assert not failures, "\n".join(failures)


def test_student_cannot_see_others_by_guessing_ids(course: Course) -> None:
    bob = login(course.app, "bob")
    for submission_id in range(1, 20):
        if submission_id == course.bob_sub:
            continue
        for suffix in ("", "/status.json", "/models.py", "/charts/q1-curve.png"):
            response = bob.get(f"/submissions/{submission_id}{suffix}")
            assert response.status_code == 404, (submission_id, suffix)
            assert b"# alice" not in response.data


def _post_routes(c: Course) -> list[tuple[str, dict[str | None, int]]]:
    a = c.alice_sub
    instructor_only = {None: 302, "alice": 403, "bob": 403, "tara": 403, "ivan": 302}
    return [
        (f"/instructor/submissions/{a}/regrade", instructor_only),
        (f"/instructor/submissions/{a}/override/q1", instructor_only),
    ]


def test_instructor_actions_only_for_instructors(course: Course) -> None:
    for who in WHO:
        client = login(course.app, who)
        token = _csrf(client.get("/login").text) if who is None else _csrf(client.get("/kit/").text)
        for path, expected in _post_routes(course):
            data = {"csrf_token": token, "reason": "checking the new seeds", "q1-points": "5",
                    "q1-reason": "checking the new seeds", "q1-csrf_token": token}
            response = client.post(path, data=data)
            assert response.status_code == expected[who], (who, path, response.status_code)


def test_override_is_audited_and_shown_to_tas(course: Course) -> None:
    ivan = login(course.app, "ivan")
    token = _csrf(ivan.get(f"/submissions/{course.alice_sub}").text)
    response = ivan.post(f"/instructor/submissions/{course.alice_sub}/override/q2",
                         data={"q2-csrf_token": token, "q2-points": "3", "q2-reason": "copied code"})
    assert response.status_code == 302
    tara = login(course.app, "tara")
    assert "copied code" in tara.get("/dashboard/audit").text
    assert "copied code" in tara.get("/dashboard/").text
    alice = login(course.app, "alice")
    assert "9/12" in alice.get(f"/submissions/{course.alice_sub}").text.replace("<strong>", "").replace(
        "</strong><span>", "")
    too_many = ivan.post(f"/instructor/submissions/{course.alice_sub}/override/q2",
                         data={"q2-csrf_token": token, "q2-points": "60", "q2-reason": "x" * 5})
    assert too_many.status_code == 400
    assert ivan.post(f"/instructor/submissions/{course.alice_sub}/override/q9",
                     data={"q9-csrf_token": token, "q9-points": "1", "q9-reason": "x" * 5}).status_code == 404


def _card(page: str, question: str) -> str:
    """The question's card on a result page."""
    match = re.search(rf'<section class="card question[^"]*"[^>]*data-testid="question-{question}">(.*?)</section>',
                      page, re.S)
    assert match, page
    return match.group(1)


def _form(page: str, question: str) -> str:
    match = re.search(rf'<form [^>]*data-testid="override-form-{question}">(.*?)</form>', page, re.S)
    assert match, page
    return match.group(1)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_student_sees_the_overridden_points_and_the_reason_on_the_card(course: Course, locale: str) -> None:
    ivan = login(course.app, "ivan")
    page = ivan.get(f"/submissions/{course.alice_sub}").text
    # The label promises the student sees the reason: the student's page below shows it.
    assert "Reason (the student sees it too)" in _form(page, "q2")
    before = _card(login(course.app, "alice").get(f"/submissions/{course.alice_sub}").text, "q2")
    assert "6</strong>/6" in before and "changed by staff" not in before
    token = _csrf(page)
    for points, reason in (("5", "an older decision"), ("3", "copied code from a classmate")):
        response = ivan.post(f"/instructor/submissions/{course.alice_sub}/override/q2",
                             data={"q2-csrf_token": token, "q2-points": points, "q2-reason": reason})
        assert response.status_code == 302
    alice = login(course.app, "alice")
    if locale == "es":
        alice.post("/language", data={"csrf_token": _csrf(alice.get("/submissions/").text), "locale": "es"})
    page = alice.get(f"/submissions/{course.alice_sub}").text
    card = _card(page, "q2")
    assert "<strong>3</strong>/6" in card and "<strong>6</strong>/6" not in card
    assert "copied code from a classmate" in card and "an older decision" not in card
    if locale == "es":
        assert "cambiados por el profesorado" in card
        assert "La calificación dio 6/6 puntos; ivan los cambió a 3/6 el" in card
    else:
        assert "changed by staff" in card
        assert "Grading gave 6/6 points; ivan set them to 3/6 on" in card
    assert "missed" in re.search(r'<section class="card question ([^"]*)"[^>]*data-testid="question-q2"', page).group(1)
    other = _card(page, "q1")
    assert "changed by staff" not in other and "cambiados por el profesorado" not in other


def test_an_override_error_lands_on_its_own_questions_form(course: Course) -> None:
    ivan = login(course.app, "ivan")
    token = _csrf(ivan.get(f"/submissions/{course.alice_sub}").text)
    refused = ivan.post(f"/instructor/submissions/{course.alice_sub}/override/q1",
                        data={"q1-csrf_token": token, "q1-points": "7", "q1-reason": "bonus for style"})
    assert refused.status_code == 400
    q1, q2 = _form(refused.text, "q1"), _form(refused.text, "q2")
    assert "q1 is worth at most 6 points." in q1 and 'value="7"' in q1 and "bonus for style" in q1
    assert "field-error" not in q2 and "bonus for style" not in q2 and 'value="7"' not in q2
    regrade = re.search(r'<form method="post" action="[^"]*/regrade">(.*?)</form>', refused.text, re.S)
    assert regrade and "bonus for style" not in regrade.group(1) and "field-error" not in regrade.group(1)
    blank = ivan.post(f"/instructor/submissions/{course.alice_sub}/override/q2",
                      data={"q2-csrf_token": token, "q2-points": "1", "q2-reason": "     "})
    assert blank.status_code == 400
    # Blank space is no reason: the same error as an empty reason, alone.
    assert "An override needs a reason." in _form(blank.text, "q2")
    assert "Write between" not in _form(blank.text, "q2")
    assert "field-error" not in _form(blank.text, "q1")
    short = ivan.post(f"/instructor/submissions/{course.alice_sub}/override/q2",
                      data={"q2-csrf_token": token, "q2-points": "1", "q2-reason": "  ok  "})
    assert short.status_code == 400 and "Write between 3 and 1000 characters." in _form(short.text, "q2")


def test_regrade_creates_a_run_and_is_audited(course: Course) -> None:
    ivan = login(course.app, "ivan")
    token = _csrf(ivan.get(f"/submissions/{course.alice_sub}").text)
    response = ivan.post(f"/instructor/submissions/{course.alice_sub}/regrade",
                         data={"csrf_token": token, "reason": "new kit version"})
    assert response.status_code == 302
    assert course.enqueued, "the regrade run was not sent to the queue"
    assert "new kit version" in login(course.app, "tara").get("/dashboard/audit").text


@pytest.mark.parametrize(("locale", "system", "title"), [("en", "system", "Overrides and audit"),
                                                         ("es", "sistema", "Ajustes y auditoría")])
def test_the_audit_log_names_the_system_and_its_title_matches_the_menu(
    course: Course, locale: str, system: str, title: str,
) -> None:
    from gradebook.regrade import RegradeScope, create_change_set

    engine = make_engine(course.settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:  # `nngrade regrade`: no author
            create_change_set(session, RegradeScope(assignment="nn"), reason="new seeds")
    finally:
        engine.dispose()
    tara = login(course.app, "tara")
    tara.post("/language", data={"csrf_token": _csrf(tara.get("/dashboard/").text), "locale": locale})
    page = tara.get("/dashboard/audit").text
    row = re.search(r"<tr><td>[^<]*</td><td>(.*?)</td><td>[^<]*(regrade|recalif)", page)
    assert row, page
    assert re.fullmatch(rf'<span data-testid="system-actor">{system}</span>', row.group(1))
    assert f"<title>{title} · nngrade</title>" in page
    assert re.search(rf'<a href="/dashboard/audit" aria-current="page">{title}</a>', page)
    assert f"<h1>{title}</h1>" in page


@pytest.mark.parametrize(("locale", "xlabel", "ylabel"), [
    ("en", "q1 training loss (SquareLoss on the 200 points; no unit)", "submissions"),
    ("es", "pérdida de entrenamiento de q1 (SquareLoss sobre los 200 puntos; sin unidad)", "entregas"),
])
def test_the_q1_histogram_names_its_axes_in_the_readers_language(
    course: Course, monkeypatch: pytest.MonkeyPatch, locale: str, xlabel: str, ylabel: str,
) -> None:
    from matplotlib.axes import Axes

    from web.dashboard import views

    monkeypatch.setattr(views, "_chart_png", lambda key, render: render())  # drawn now, not an earlier test's
    said: dict[str, str] = {}
    for method in ("set_xlabel", "set_ylabel"):
        original = getattr(Axes, method)

        def record(self: Axes, *args: object, _name: str = method, _original: object = original,
                   **kwargs: object) -> object:
            said[_name] = str(args[0])
            return _original(self, *args, **kwargs)  # type: ignore[operator]
        monkeypatch.setattr(Axes, method, record)
    tara = login(course.app, "tara")
    tara.post("/language", data={"csrf_token": _csrf(tara.get("/dashboard/").text), "locale": locale})
    response = tara.get(f"/dashboard/charts/losses.png?assignment=nn&lang={locale}")
    assert response.status_code == 200 and response.data.startswith(b"\x89PNG")
    assert said == {"set_xlabel": xlabel, "set_ylabel": ylabel}


def test_forms_without_csrf_token_are_rejected(course: Course) -> None:
    client = course.app.test_client()
    response = client.post("/login", data={"username": "alice", "password": PASSWORDS["alice"]})
    assert response.status_code == 400
    assert "expired" in response.text
    alice = login(course.app, "alice")
    response = alice.post("/assignments/nn/submissions", data={"models_py": (io.BytesIO(b"x = 1\n"), "models.py")})
    assert response.status_code == 400
    ivan = login(course.app, "ivan")
    response = ivan.post(f"/instructor/submissions/{course.alice_sub}/override/q1",
                         data={"q1-points": "0", "q1-reason": "no token"})
    assert response.status_code == 400


def test_wrong_password_is_refused(course: Course) -> None:
    client = course.app.test_client()
    token = _csrf(client.get("/login").text)
    response = client.post("/login", data={"username": "alice", "password": "nope", "csrf_token": token})
    assert response.status_code == 401
    assert "Wrong username or password" in response.text


def test_login_does_not_redirect_off_site(course: Course) -> None:
    client = course.app.test_client()
    token = _csrf(client.get("/login").text)
    response = client.post("/login?next=//evil.example/x",
                           data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": token})
    assert response.location == "/submissions/"


def test_session_cookie_is_secure_by_default(tmp_path: Path, course: Course) -> None:
    from dataclasses import replace

    app = create_app(replace(course.settings, session_cookie_secure=True), course.queue,
                     limiter_storage_uri="memory://")
    client = app.test_client()
    token = _csrf(client.get("/login", base_url="https://localhost").text)
    response = client.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
                           data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    app.extensions["nngrade.db"].dispose()
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logout_ends_the_session(course: Course) -> None:
    alice = login(course.app, "alice")
    token = _csrf(alice.get("/submissions/").text)
    assert alice.post("/logout", data={"csrf_token": token}).status_code == 302
    assert alice.get("/submissions/").status_code == 302


def _upload(client: FlaskClient, data: bytes, name: str = "models.py", slug: str = "nn") -> tuple[int, str]:
    token = _csrf(client.get(f"/assignments/{slug}/").text)
    response = client.post(f"/assignments/{slug}/submissions",
                           data={"csrf_token": token, "models_py": (io.BytesIO(data), name)})
    return response.status_code, response.text


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"def f(:\n    pass\n", "models.py", "Syntax error on line 1"),
    (b"x = '\xff\xfe'\n", "models.py", "Line 1 is not valid UTF-8"),
    (b"", "models.py", "empty"),
    (b"x = 1\n", "models.txt", "not a .py file"),
    (b"x = 1\n" + b"#" * 300_000, "models.py", "The file is larger than the limit of 256 KB."),
])
def test_upload_errors_are_clear(course: Course, data: bytes, name: str, message: str) -> None:
    status, html = _upload(login(course.app, "alice"), data, name)
    assert status in (400, 413, 422)
    assert message in html
    assert not course.enqueued


@pytest.mark.parametrize(("locale", "said"), [("en", "The file is larger than the limit of 195.3 KB."),
                                              ("es", "El archivo ocupa más del límite de 195,3 KB.")])
def test_an_oversized_upload_names_the_real_limit(course: Course, locale: str, said: str) -> None:
    """The view reads the cap + 1 bytes of a larger file: the page says the cap, in KB, never that count."""
    from dataclasses import replace

    app = create_app(replace(course.settings, upload_max_bytes=200_000), course.queue, testing=True,
                     limiter_storage_uri="memory://")
    try:
        alice = login(app, "alice")
        alice.post("/language", data={"csrf_token": _csrf(alice.get("/submissions/").text), "locale": locale})
        status, page = _upload(alice, b"x = 1\n" + b"#" * 300_000)
    finally:
        app.extensions["nngrade.db"].dispose()
    assert status == 422 and said in page
    assert "200001" not in page and "200000" not in page and "200.001" not in page
    assert not course.enqueued


def test_upload_queues_then_rate_limit_says_when(course: Course) -> None:
    alice = login(course.app, "alice")
    status, _ = _upload(alice, b"class RegressionModel:\n    pass\n")
    assert status == 200 or status == 302
    assert len(course.enqueued) == 1
    page = alice.get("/assignments/nn/").text
    assert "next upload is allowed at" in page
    status, html = _upload(alice, b"x = 2\n")
    assert status == 429
    assert "Your next upload is allowed at" in html
    assert len(course.enqueued) == 1


def test_status_json_reports_queue_position(course: Course) -> None:
    bob = login(course.app, "bob")
    payload = bob.get(f"/submissions/{course.bob_sub}/status.json").get_json()
    assert payload["status"] == "queued" and payload["queue_position"] == 1 and payload["pending"] is True


def test_result_page_shows_feedback(course: Course) -> None:
    html = login(course.app, "alice").get(f"/submissions/{course.alice_sub}").text
    for text in ("12</strong>", "0.004000", "97.50%", "Seed", "Peak memory", "Log excerpt",
                 "q1-curve.png", "q2-confusion.png", "q2-misclassified.png"):
        assert text in html, text


def test_dashboard_filters_and_sorts(course: Course) -> None:
    tara = login(course.app, "tara")
    html = tara.get("/dashboard/?q=ali").text
    assert 'data-student="alice"' in html and 'data-student="bob"' not in html
    html = tara.get("/dashboard/?status=queued").text
    assert 'data-student="bob"' in html and 'data-student="alice"' not in html
    html = tara.get("/dashboard/?sort=score&order=desc").text
    assert html.index('data-student="alice"') < html.index('data-student="bob"')
    csv_text = tara.get("/dashboard/export.csv").text
    assert csv_text.splitlines()[0].startswith("student_id,name")
    assert any(line.startswith("alice,") and ",12," in line for line in csv_text.splitlines())


def test_security_headers(course: Course) -> None:
    response = course.app.test_client().get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_failed_run_is_on_the_dashboard_and_never_an_error_of_the_students(course: Course) -> None:
    url = course.settings.database_url
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        run_id = session.scalar(select(GradingRun.id).where(GradingRun.submission_id == course.bob_sub))
        assert run_id is not None and runs.claim_run(session, run_id, "t", lease_s=60).state == "claimed"
        assert retries.record_failure(session, run_id, "t", "Traceback ...\nKeyError: 'no such column'",
                                   max_failures=1, retry_at=datetime.now(UTC)) == "failed"
    engine.dispose()
    html = login(course.app, "tara").get("/dashboard/").text
    assert f"run {run_id} (bob): KeyError: &#39;no such column&#39;" in html
    assert login(course.app, "tara").get("/dashboard/queue.json").get_json()["failed"] == 1
    payload = login(course.app, "bob").get(f"/submissions/{course.bob_sub}/status.json").get_json()
    assert payload["status"] == "queued" and "on our side" in payload["detail"]


def _fact(page: str, term: str) -> str:
    """The value of one fact of a result page's "About this submission" list."""
    match = re.search(rf"<dt>{term}</dt><dd>(.*?)</dd>", page, re.S)
    assert match, page
    return match.group(1)


def _regrade_unchanged(course: Course, later: datetime) -> int:
    """`nngrade regrade` of the course's assignment graded `later` with the same scores, then applied as the
    command line applies a regrade that changes nothing. Returns the change-set's id."""
    from gradebook.regrade import RegradeScope, apply_if_unchanged, create_change_set

    engine = make_engine(course.settings.database_url)
    try:
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            change_set, _ = create_change_set(session, RegradeScope(assignment="nn"), now=later)
            change_set_id = change_set.id
        with transaction(factory) as session:
            run = session.scalar(select(GradingRun).where(GradingRun.change_set_id == change_set_id,
                                                          GradingRun.submission_id == course.alice_sub))
            assert run is not None
            sha = run.submission.sha256
            assert runs.claim_run(session, run.id, "re", lease_s=60, now=later).state == "claimed"
            assert runs.finish_run(session, run.id, "re", _report(sha), now=later + timedelta(seconds=40))
        with transaction(factory) as session:  # bob's pending upload is cancelled by the decision
            assert apply_if_unchanged(session, change_set_id)
    finally:
        engine.dispose()
    return change_set_id


def test_a_regrade_says_what_counts_with_the_override_and_leaves_the_students_times(course: Course) -> None:
    ivan = login(course.app, "ivan")
    token = _csrf(ivan.get(f"/submissions/{course.alice_sub}").text)
    assert ivan.post(f"/instructor/submissions/{course.alice_sub}/override/q1",
                     data={"q1-csrf_token": token, "q1-points": "2", "q1-reason": "hard-coded targets"}
                     ).status_code == 302
    alice = login(course.app, "alice")
    before = alice.get(f"/submissions/{course.alice_sub}").text
    tara = login(course.app, "tara")
    row = re.compile(r'<tr data-student="alice">.*?</tr>', re.S)
    dashboard_before = row.search(tara.get("/dashboard/").text)
    change_set_id = _regrade_unchanged(course, datetime.now(UTC) + timedelta(hours=5))

    page = ivan.get(f"/submissions/{course.alice_sub}").text
    entry = re.search(rf'<li data-testid="regrade-{change_set_id}">(.*?)</li>', page, re.S)
    assert entry, page
    said = re.sub(r"<[^>]+>|\s+", " ", entry.group(1))
    assert "12 points graded" in said and "8 points count now" in said and "manual changes included" in said
    assert "12 points count" not in said
    assert '<strong>8</strong><span>/12</span>' in page  # the headline agrees with the regrade's entry
    # The student's page: grading times are those of the upload's grading; the regrade is named as such.
    after = alice.get(f"/submissions/{course.alice_sub}").text
    assert _fact(after, "Started") == _fact(before, "Started")
    assert _fact(after, "Finished") == _fact(before, "Finished")
    assert "Regraded by staff" in after and "Regraded by staff" not in before
    dashboard_after = row.search(tara.get("/dashboard/").text)
    assert dashboard_before and dashboard_after
    assert dashboard_after.group(0) == dashboard_before.group(0)  # last activity: still the student's own


@pytest.mark.parametrize(("locale", "words", "raw"), [
    ("en", ["regrade applied automatically", "No score changed, so it was applied without review.",
            "Every student&#39;s submissions to nn."], ["(applied)", "assignment=", "only_failed"]),
    ("es", ["recalificación aplicada automáticamente", "No cambió ninguna puntuación, así que se aplicó sin revisión.",
            "Las entregas de todos los estudiantes a nn."], ["(applied)", "applied", "assignment=", "only_failed"]),
])
def test_the_audit_says_its_details_in_sentences_and_numbers_submissions_as_students_do(
    course: Course, locale: str, words: list[str], raw: list[str],
) -> None:
    from gradebook.models import Submission, User
    from gradebook.overrides import add_override

    engine = make_engine(course.settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            bob_sub = session.get(Submission, course.bob_sub)
            ivan = session.get(User, course.ids["ivan"])
            assert bob_sub is not None and ivan is not None
            add_override(session, bob_sub, "q2", 1, ivan, "late by a week")
    finally:
        engine.dispose()
    # Bob's first upload is the course's second: his number (#1) and the global id (2) differ.
    assert course.bob_sub != 1
    _regrade_unchanged(course, datetime.now(UTC) + timedelta(minutes=5))
    tara = login(course.app, "tara")
    tara.post("/language", data={"csrf_token": _csrf(tara.get("/dashboard/").text), "locale": locale})
    page = tara.get("/dashboard/audit").text
    for word in words:
        assert word in page, page
    staff_actions = page[page.index('<table class="table compact">'):]
    for text in raw:
        assert text not in staff_actions, staff_actions
    link = f'<a href="/submissions/{course.bob_sub}" translate="no">bob #1</a>'
    assert page.count(link) == 2, page  # the same number in both tables, linked
    assert f"bob #{course.bob_sub}" not in page


def _errors(form: str) -> list[str]:
    return re.findall(r'<p class="field-error"[^>]*>(.*?)</p>', form)


@pytest.mark.parametrize(("locale", "whole", "most", "reason"), [
    ("en", "Give a whole number from 0 to 6.", "q1 is worth at most 6 points.", "Write between 3 and 1000 characters."),
    ("es", "Indica un número entero de 0 a 6.", "q1 vale como máximo 6 puntos.", "Escribe entre 3 y 1000 caracteres."),
])
def test_override_points_are_bounded_by_the_question_with_one_error_each(
    course: Course, locale: str, whole: str, most: str, reason: str,
) -> None:
    ivan = login(course.app, "ivan")
    ivan.post("/language", data={"csrf_token": _csrf(ivan.get("/submissions/").text), "locale": locale})
    page = ivan.get(f"/submissions/{course.alice_sub}").text
    assert re.search(r'<input [^>]*max="6"[^>]*name="q1-points"', _form(page, "q1")), _form(page, "q1")
    assert 'max="100"' not in page
    token = _csrf(page)
    cases = [("4.5", "a fair reason", [whole], []), ("-1", "a fair reason", [whole], []),
             ("7", "a fair reason", [most], []), ("4.5", " ab ", [whole], [reason]), ("7", "x", [most], [reason])]
    for points, why, points_errors, reason_errors in cases:
        refused = ivan.post(f"/instructor/submissions/{course.alice_sub}/override/q1",
                            data={"q1-csrf_token": token, "q1-points": points, "q1-reason": why})
        assert refused.status_code == 400, (points, why)
        form = _form(refused.text, "q1")
        assert _errors(form) == points_errors + reason_errors, (points, why, form)
