"""Uploads against a running portal over HTTP: the rate limit holds under parallel uploads (gunicorn processes,
SQLite and PostgreSQL), the assignment is explicit, and the one definition of a valid models.py
(grader/source.py) decides what is accepted: a BOM + CRLF file is graded, Latin-1 needs its coding line, a
100,000-deep expression is a clear refusal."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from portal_support import (
    SECRET,
    Account,
    Browser,
    RecordingQueue,
    csrf_token,
    gunicorn,
    make_course,
    served,
    served_grading,
)
from sqlalchemy import func, select
from test_worker_support import RedisServer, free_port, redis_server, throwaway_postgres  # noqa: F401

from gradebook.db import make_engine, make_sessionmaker
from gradebook.models import Assignment, Submission
from nngrade.settings import Settings

BOM_CRLF = Path(__file__).resolve().parent.parent / "reference_solutions" / "compat" / "bom_crlf.py"
ALICE = Account("alice", "alice-password-1")
PARALLEL = 8


def _settings(tmp_path: Path, url: str, redis_url: str = "redis://127.0.0.1:1/0", **changes: object) -> Settings:
    values: dict[str, object] = dict(var_dir=tmp_path, database_url=url, redis_url=redis_url,
                                     storage_dir=tmp_path / "subs", data_dir=tmp_path / "data", runner="local",
                                     secret_key=SECRET, session_cookie_secure=False)
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


def _count(url: str, slug: str | None = None) -> int:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            query = select(func.count()).select_from(Submission)
            if slug is not None:
                query = query.join(Assignment).where(Assignment.slug == slug)
            return int(session.scalar(query) or 0)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite3'}"
        return
    with throwaway_postgres() as url:
        yield url


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize(("interval_s", "per_day", "accepted"), [(60, 30, 1), (0, 3, 3)])
def test_rate_limit_holds_under_parallel_uploads(tmp_path: Path, database_url: str, redis_server: RedisServer,  # noqa: F811
                                                 interval_s: int, per_day: int, accepted: int) -> None:
    settings = _settings(tmp_path, database_url, redis_server.url, upload_min_interval_s=interval_s,
                         uploads_per_day=per_day)
    make_course(settings, [ALICE])
    with gunicorn(settings, free_port(), workers=2, threads=8) as url:
        # One session per upload, all logged in as the same student, then released at once.
        browsers = [Browser(url) for _ in range(PARALLEL)]
        tokens = []
        for b in browsers:
            assert b.log_in(ALICE.username, ALICE.password).url.endswith("/submissions/")
            tokens.append(b.get("/assignments/nn/").text)
        start = threading.Barrier(PARALLEL)

        def upload(n: int) -> int:
            start.wait()
            return browsers[n].upload("nn", f"x = {n}\n".encode()).status_code

        with ThreadPoolExecutor(PARALLEL) as pool:
            statuses = list(pool.map(upload, range(PARALLEL)))
    assert statuses.count(200) == accepted, statuses  # 302 to the result page, followed
    assert statuses.count(429) == PARALLEL - accepted, statuses
    assert _count(database_url) == accepted


@pytest.fixture
def graded_portal(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """A portal whose published runs are graded at once in this process (q1 only, local runner)."""
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", upload_min_interval_s=0)
    make_course(settings, [ALICE], slugs=[("nn", "Neural networks"), ("nn2", "Second project")],
                questions=("q1",))
    with served_grading(settings) as url:
        yield url, settings


def _wait_graded(user: Browser, detail_url: str, timeout_s: float = 600) -> dict[str, object]:
    submission_id = detail_url.rstrip("/").rsplit("/", 1)[-1]
    deadline = time.monotonic() + timeout_s
    while True:
        state: dict[str, object] = user.get(f"/submissions/{submission_id}/status.json").json()
        if not state["pending"]:
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.5)


@pytest.mark.slow
def test_bom_crlf_file_is_accepted_over_http_and_graded(graded_portal: tuple[str, Settings]) -> None:
    url, _ = graded_portal
    data = BOM_CRLF.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    user = Browser(url)
    user.log_in(ALICE.username, ALICE.password)
    response = user.upload("nn", data)
    assert response.status_code == 200 and "/submissions/" in response.url, response.text[-2000:]
    state = _wait_graded(user, response.url)
    assert (state["status"], state["points"], state["max_points"]) == ("graded", 6, 6), state
    assert user.get(response.url.replace(url, "") + "/models.py").content == data  # stored byte for byte


@pytest.mark.slow
def test_latin1_needs_its_coding_line(graded_portal: tuple[str, Settings]) -> None:
    url, _ = graded_portal
    user = Browser(url)
    user.log_in(ALICE.username, ALICE.password)
    body = b"import nn\n\n# a\xf1o 2024: modelo de regresi\xf3n\nclass RegressionModel:\n    pass\n"
    refused = user.upload("nn", body)
    assert refused.status_code == 422
    assert "Line 3 is not valid UTF-8 text" in refused.text and "coding: latin-1" in refused.text
    accepted = user.upload("nn", b"# -*- coding: latin-1 -*-\n" + body)
    assert accepted.status_code == 200 and "/submissions/" in accepted.url


@pytest.mark.parametrize("expression", ["(" * 100_000 + "1" + ")" * 100_000, "-" * 100_000 + "1",
                                        "+".join(["1"] * 60_000)])
def test_deeply_nested_expression_is_a_clear_refusal(tmp_path: Path, expression: str) -> None:
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", upload_min_interval_s=0)
    make_course(settings, [ALICE])
    queue = RecordingQueue()
    with served(settings, queue, limiter_storage_uri="memory://") as url:
        user = Browser(url)
        user.log_in(ALICE.username, ALICE.password)
        response = user.upload("nn", f"import nn\n\nx = {expression}\n".encode())
    assert response.status_code == 422, response.status_code
    assert "line 3" in response.text.lower() and "Split" in response.text
    assert not queue.published


def test_the_assignment_is_explicit_in_the_url_and_page(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", upload_min_interval_s=0)
    make_course(settings, [ALICE], slugs=[("nn", "Neural networks"), ("nn2", "Second project")])
    queue = RecordingQueue()
    with served(settings, queue, limiter_storage_uri="memory://") as url:
        user = Browser(url)
        home = user.log_in(ALICE.username, ALICE.password)
        assert 'data-testid="assignment-nn"' in home.text and 'data-testid="assignment-nn2"' in home.text
        page = user.get("/assignments/nn2/").text
        assert 'data-testid="assignment-title">Second project<' in page
        assert 'action="/assignments/nn2/submissions"' in page
        done = user.upload("nn2", b"x = 1\n")
        assert done.status_code == 200 and "Second project" in done.text
        # No upload without an assignment in its URL, and none to an assignment that does not exist.
        token = csrf_token(user.get("/assignments/nn/").text)
        files = {"models_py": ("models.py", b"x = 2\n", "text/x-python")}
        assert user.http.post(url + "/submissions/", data={"csrf_token": token}, files=files).status_code == 405
        assert user.http.post(url + "/assignments/nn3/submissions", data={"csrf_token": token},
                              files=files).status_code == 404
        assert user.get("/assignments/nn3/").status_code == 404
    assert (_count(settings.database_url, "nn"), _count(settings.database_url, "nn2")) == (0, 1)
    assert len(queue.published) == 1
