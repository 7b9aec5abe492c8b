"""The canary's HTTP client: one student's session against a running portal (requests), signing in with the
form's CSRF token, uploading, polling status.json and reading the result page as a student sees it."""

from __future__ import annotations

import html
import re
import urllib.parse
from html.parser import HTMLParser
from typing import Any

import requests

DEFAULT_ASSIGNMENT = "nn-project"  # the demo course's (cli/web.py)
# Attempt outcomes that are a run status of their own; every other outcome comes from a run that ended `ok`.
RUN_STATUSES = ("timeout", "out_of_memory", "crashed", "bad_output", "infrastructure_error")
HTTP_TIMEOUT_S = 30.0


class CanaryError(Exception):
    """The portal did not behave like a portal (login refused, upload refused for good, no result page)."""


# Flask-WTF's hidden field: <input id="csrf_token" name="csrf_token" type="hidden" value="...">.
_CSRF_INPUT = re.compile(r'<input\b[^>]*\bname="csrf_token"[^>]*>')
_VALUE = re.compile(r'\bvalue="([^"]*)"')


def csrf_token(page: str) -> str | None:
    """The value of the page's first csrf_token field, or None when the page has none."""
    field = _CSRF_INPUT.search(page)
    value = _VALUE.search(field.group(0)) if field else None
    return html.unescape(value.group(1)) if value else None


class _ResultPage(HTMLParser):
    """Per question on the result page: the points and the outcome of the attempt that counted."""

    def __init__(self) -> None:
        super().__init__()
        self.points: dict[str, int] = {}
        self.outcomes: dict[str, str] = {}
        self._question: str | None = None
        self._in_points = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        testid = found.get("data-testid") or ""
        if tag == "section" and testid.startswith("question-"):
            self._question = testid.removeprefix("question-")
        elif self._question and tag == "p" and "points" in classes:
            self._in_points = True
        elif self._question and tag == "tr" and "counted" in classes:
            self._row = []
        elif self._row is not None and tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._question = None
        elif tag == "p":
            self._in_points = False
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._question and len(self._row) >= 3:
                self.outcomes[self._question] = self._row[2].replace(" ", "_")
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_points and self._question and self._question not in self.points and data.strip().isdigit():
            self.points[self._question] = int(data.strip())


def run_status(outcome: str) -> str:
    """The run status behind an attempt outcome (`passed`, `below_threshold`, ... come from an `ok` run)."""
    return outcome if outcome in RUN_STATUSES else "ok"


class Portal:
    """One student's browser session against the portal, over HTTP: a requests session keeps its cookies.

    Network failures raise requests.RequestException (an OSError); HTTP errors are answers, not exceptions.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.http = requests.Session()

    def url(self, path: str) -> str:
        """The absolute URL of `path` on the portal."""
        return urllib.parse.urljoin(self.base_url, path.lstrip("/"))

    def get(self, path: str) -> requests.Response:
        """GET `path`, following redirects."""
        return self.http.get(self.url(path), timeout=HTTP_TIMEOUT_S)

    def post(self, page: str, path: str, data: dict[str, str], files: dict[str, Any] | None = None
             ) -> requests.Response:
        """POST `data` (and `files`) to `path` with the CSRF token of the form on `page`, following redirects."""
        form = self.get(page)
        token = csrf_token(form.text)
        if form.status_code != 200 or token is None:
            raise CanaryError(f"GET {page}: HTTP {form.status_code}, no form with a CSRF token")
        return self.http.post(self.url(path), data={"csrf_token": token, **data}, files=files,
                              timeout=HTTP_TIMEOUT_S)

    def log_in(self, username: str, password: str, new_password: str | None = None) -> None:
        """Sign in; an account that must first choose its own password gets `new_password`, or CanaryError."""
        answer = self.post("login", "login", {"username": username, "password": password})
        path = urllib.parse.urlparse(answer.url).path.rstrip("/")
        if answer.status_code != 200 or path.endswith("/login"):
            raise CanaryError(f"login as {username} refused (HTTP {answer.status_code}); is the account a student's?")
        if path.endswith("/account/password"):
            if new_password is None:
                raise CanaryError(f"{username} must choose a new password first (a first login); canary accounts "
                                  "imported from `nngrade canary --print-roster` never need to")
            self.change_password(password, new_password)

    def change_password(self, current: str, new: str) -> None:
        """Set this account's password through the portal's form; CanaryError when refused."""
        answer = self.post("account/password", "account/password",
                           {"current_password": current, "new_password": new, "confirm": new})
        if answer.status_code != 200 or urllib.parse.urlparse(answer.url).path.rstrip("/").endswith(
                "/account/password"):
            raise CanaryError(f"password change refused (HTTP {answer.status_code})")

    def upload(self, source: bytes, assignment: str = DEFAULT_ASSIGNMENT) -> tuple[int | None, int, str]:
        """(submission id or None, HTTP status, body) for one models.py upload to `assignment` (its slug)."""
        page = f"assignments/{urllib.parse.quote(assignment)}/"
        answer = self.post(page, page + "submissions", {},
                           files={"models_py": ("models.py", source, "text/x-python")})
        match = re.search(r"/submissions/(\d+)$", urllib.parse.urlparse(answer.url).path)
        submission_id = int(match.group(1)) if match and answer.status_code == 200 else None
        return submission_id, answer.status_code, answer.text

    def status(self, submission_id: int) -> dict[str, Any]:
        """The live status the submission's page polls (status.json); CanaryError unless HTTP 200."""
        answer = self.get(f"submissions/{submission_id}/status.json")
        if answer.status_code != 200:
            raise CanaryError(f"status.json of #{submission_id}: HTTP {answer.status_code}")
        payload: dict[str, Any] = answer.json()
        return payload

    def result(self, submission_id: int) -> dict[str, tuple[str, int]]:
        """Per question on the result page: (run status, points); CanaryError unless HTTP 200."""
        answer = self.get(f"submissions/{submission_id}")
        if answer.status_code != 200:
            raise CanaryError(f"result page of #{submission_id}: HTTP {answer.status_code}")
        page = _ResultPage()
        page.feed(answer.text)
        return {q: (run_status(page.outcomes.get(q, "?")), p) for q, p in page.points.items()}
