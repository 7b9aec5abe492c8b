"""Shared pieces for the portal tests that go over HTTP: a course in a fresh database, a portal served on
a loopback port (in this process, or as gunicorn processes), and a browser-like HTTP client. Holds no tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from test_worker_support import wait_for
from werkzeug.serving import BaseWSGIServer, make_server

from gradebook import assignments, users
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction
from nngrade.settings import Settings
from web import create_app
from web.queue import RunQueue

REPO = Path(__file__).resolve().parent.parent
SECRET = "portal-test-" + "s" * 40


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    role: str = "student"
    name: str = ""
    must_change_password: bool = False


def make_course(settings: Settings, accounts: Sequence[Account],
                slugs: Sequence[tuple[str, str]] = (("nn", "Neural networks"),),
                questions: Sequence[str] = ("q1", "q2")) -> None:
    """Migrate the database and create the accounts and assignments (due in a week, in the given order)."""
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            for a in accounts:
                users.create_user(session, a.username, a.name or a.username.title(), a.password, a.role,
                                  must_change_password=a.must_change_password)
            for n, (slug, title) in enumerate(slugs):
                assignments.create_assignment(session, slug, title, datetime.now(UTC) + timedelta(days=7 + n),
                                              questions=questions)
    finally:
        engine.dispose()


class RecordingQueue:
    """The portal's queue without a broker: records what would be published."""

    def __init__(self) -> None:
        self.published: list[tuple[int, str]] = []

    def publish(self, run_id: int, purpose: str) -> None:
        self.published.append((run_id, purpose))


@contextmanager
def served(settings: Settings, queue: RunQueue | None, limiter_storage_uri: str | None = None) -> Iterator[str]:
    """The portal on a loopback port of this process (a threaded WSGI server); yields its base URL."""
    app = create_app(settings, queue, limiter_storage_uri=limiter_storage_uri)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["nngrade.db"].dispose()


@contextmanager
def served_grading(settings: Settings, join_timeout_s: float = 600) -> Iterator[str]:
    """The portal on a loopback port whose published runs are graded at once, each in a thread of this process,
    by the worker's own task code (worker.tasks.grade) with `settings.runner`; yields its base URL."""
    from worker.context import ProcessContext
    from worker.options import WorkerOptions
    from worker.tasks import grade

    context = ProcessContext(settings, WorkerOptions())
    threads: list[threading.Thread] = []

    class GradeNow:
        def publish(self, run_id: int, purpose: str) -> None:
            thread = threading.Thread(target=grade, args=(context, run_id), daemon=True)
            threads.append(thread)
            thread.start()

    try:
        with served(settings, GradeNow(), limiter_storage_uri="memory://") as url:
            yield url
    finally:
        for thread in threads:
            thread.join(timeout=join_timeout_s)
        context.dispose()


def settings_env(settings: Settings) -> dict[str, str]:
    """The NNGRADE_* environment that makes `load_settings()` return `settings` (for subprocesses)."""
    return {
        "NNGRADE_VAR_DIR": str(settings.var_dir),
        "NNGRADE_DATABASE_URL": settings.database_url,
        "NNGRADE_REDIS_URL": settings.redis_url,
        "NNGRADE_DATA_DIR": str(settings.data_dir),
        "NNGRADE_STORAGE_DIR": str(settings.storage_dir),
        "NNGRADE_RUNNER": settings.runner,
        "NNGRADE_SECRET_KEY": settings.secret_key,
        "NNGRADE_UPLOAD_MAX_BYTES": str(settings.upload_max_bytes),
        "NNGRADE_UPLOAD_MIN_INTERVAL_S": str(settings.upload_min_interval_s),
        "NNGRADE_UPLOADS_PER_DAY": str(settings.uploads_per_day),
        "NNGRADE_INSECURE_COOKIES": "" if settings.session_cookie_secure else "1",
        "NNGRADE_WEB_HOST": settings.web_host,
    }


@contextmanager
def gunicorn(settings: Settings, port: int, workers: int = 2, threads: int = 8) -> Iterator[str]:
    """The portal as production runs it: gunicorn worker processes serving web.wsgi; yields its base URL."""
    binary = Path(sys.executable).parent / "gunicorn"
    env = {**os.environ, **settings_env(settings), "PYTHONPATH": str(REPO)}
    log = settings.var_dir / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(binary), "web.wsgi:app", "--config", "python:web.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
             "--worker-class", "gthread",
             "--workers", str(workers), "--threads", str(threads), "--timeout", "60"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited: {log.read_text()[-3000:]}")
            try:
                # A worker still importing the app accepts the connection but answers late: wait on.
                return requests.get(url + "/login", timeout=10).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                return False

        wait_for(up, 60, "gunicorn to serve the login page", interval_s=0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """One user's cookies against a running portal, over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.http.get(self.base_url + path, timeout=60, **kwargs)  # type: ignore[arg-type]

    def post_form(self, page: str, path: str, data: dict[str, str], **kwargs: object) -> requests.Response:
        token = csrf_token(self.get(page).text)
        return self.http.post(self.base_url + path, data={"csrf_token": token, **data}, timeout=60,
                              **kwargs)  # type: ignore[arg-type]

    def log_in(self, username: str, password: str) -> requests.Response:
        return self.post_form("/login", "/login", {"username": username, "password": password})

    def upload(self, slug: str, data: bytes, name: str = "models.py") -> requests.Response:
        token = csrf_token(self.get(f"/assignments/{slug}/").text)
        return self.http.post(f"{self.base_url}/assignments/{slug}/submissions", data={"csrf_token": token},
                              files={"models_py": (name, data, "text/x-python")}, timeout=60)
