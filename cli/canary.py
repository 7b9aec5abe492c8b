"""`nngrade canary`: upload the hostile battery and the staff solution to a running portal, as students, and
check that each gets its expected outcome (reference_solutions/expected.json) — a health check for production.

Only HTTP, like a student: log in (with the CSRF token), upload, poll status.json, read the result page. Each
case uses its own account when there are enough (`--print-roster` writes a roster of canary accounts), so
the portal's one-pending rule and minimum interval between uploads do not serialise the run; with fewer
accounts an account takes its cases in turn and waits out the interval.
"""

from __future__ import annotations

import argparse
import csv
import http.cookiejar
import json
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TextIO

SOLUTIONS_DIR = Path(__file__).resolve().parent.parent / "reference_solutions"
EXPECTED_FILE = SOLUTIONS_DIR / "expected.json"
STAFF = "staff"
ROSTER_PREFIX = "canary-"  # gradebook.users.CANARY_PREFIX: such accounts are left out of exports and dashboards
DEFAULT_ASSIGNMENT = "nn-project"  # the demo course's (cli/web.py)
# Attempt outcomes that are a run status of their own; every other outcome comes from a run that ended `ok`.
RUN_STATUSES = ("timeout", "out_of_memory", "crashed", "bad_output", "infrastructure_error")
HTTP_TIMEOUT_S = 30.0


class CanaryError(Exception):
    """The portal did not behave like a portal (login refused, upload refused for good, no result page)."""


@dataclass(frozen=True)
class Case:
    """One file and what it must get: per question, the run status and the points."""

    name: str
    path: Path
    expected: dict[str, tuple[str, int]]

    def describe(self, got: dict[str, tuple[str, int]] | None = None) -> str:
        source = self.expected if got is None else got
        return ", ".join(f"{q} {source[q][0]} {source[q][1]}" if q in source else f"{q} -" for q in self.expected)


@dataclass
class Outcome:
    case: Case
    got: dict[str, tuple[str, int]] = field(default_factory=dict)
    error: str | None = None
    submission_id: int | None = None
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and all(self.got.get(q) == want for q, want in self.case.expected.items())


def load_cases(expected_file: Path = EXPECTED_FILE, solutions_dir: Path | None = None) -> list[Case]:
    """The staff solution first, then the hostile files, from the shared expectations file."""
    root = solutions_dir or expected_file.parent
    data = json.loads(expected_file.read_text(encoding="utf-8"))
    staff = data["staff"]
    cases = [Case(STAFF, root / staff["file"],
                  {q: (v["status"], int(v["points"])) for q, v in staff["questions"].items()})]
    for name, case in sorted(data["hostile"].items()):
        expected = {case["question"]: (case["status"], int(case["points"]))}
        cases.append(Case(Path(name).stem, root / case["file"], expected))
    return cases


def select_cases(cases: Sequence[Case], wanted: str) -> list[Case]:
    if wanted == "all":
        return list(cases)
    names = [n.strip().removesuffix(".py") for n in wanted.split(",") if n.strip()]
    by_name = {c.name: c for c in cases}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise CanaryError(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def roster_csv(cases: Sequence[Case]) -> str:
    """A roster (username,name,email,role) with one student account per case, for `nngrade roster import`."""
    lines = ["username,name,email,role"]
    for case in cases:
        user = ROSTER_PREFIX + case.name.replace("_", "-")
        lines.append(f"{user},Canary {case.name},{user}@canary.invalid,student")
    return "\n".join(lines) + "\n"


def read_credentials(path: Path, prefix: str | None = ROSTER_PREFIX) -> list[tuple[str, str]]:
    """username,password rows (the file `nngrade roster import` writes); only canary accounts by default."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = [(r["username"], r["password"]) for r in csv.DictReader(f)]
    if prefix:
        rows = [r for r in rows if r[0].startswith(prefix)]
    if not rows:
        raise CanaryError(f"no {'canary ' if prefix else ''}accounts in {path}")
    return rows


class _Forms(HTMLParser):
    """The CSRF token of the page's form."""

    def __init__(self) -> None:
        super().__init__()
        self.csrf_token: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name") == "csrf_token" and self.csrf_token is None:
            self.csrf_token = found.get("value")


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
    """One student's browser session against the portal, over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def url(self, path: str) -> str:
        return urllib.parse.urljoin(self.base_url, path.lstrip("/"))

    def request(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        """(status, final URL, body); HTTP errors are answers too."""
        req = urllib.request.Request(self.url(path), data=data, headers=headers or {})
        try:
            with self._opener.open(req, timeout=HTTP_TIMEOUT_S) as response:
                return response.status, response.geturl(), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.geturl() or self.url(path), exc.read().decode("utf-8", "replace")

    def _csrf(self, path: str) -> str:
        status, _, body = self.request(path)
        parser = _Forms()
        parser.feed(body)
        if status != 200 or parser.csrf_token is None:
            raise CanaryError(f"GET {path}: HTTP {status}, no form with a CSRF token")
        return parser.csrf_token

    def log_in(self, username: str, password: str, new_password: str | None = None) -> None:
        """Sign in; an account that must first choose its own password gets `new_password`, or CanaryError."""
        token = self._csrf("login")
        form = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": password}).encode()
        status, final, _ = self.request("login", form, {"Content-Type": "application/x-www-form-urlencoded"})
        path = urllib.parse.urlparse(final).path.rstrip("/")
        if status != 200 or path.endswith("/login"):
            raise CanaryError(f"login as {username} refused (HTTP {status}); is the account a student's?")
        if path.endswith("/account/password"):
            if new_password is None:
                raise CanaryError(f"{username} must choose a new password first (a first login); canary accounts "
                                  "imported from `nngrade canary --print-roster` never need to")
            self.change_password(password, new_password)

    def change_password(self, current: str, new: str) -> None:
        """Set this account's password through the portal's form."""
        token = self._csrf("account/password")
        form = urllib.parse.urlencode({"csrf_token": token, "current_password": current, "new_password": new,
                                       "confirm": new}).encode()
        status, final, _ = self.request("account/password", form,
                                        {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200 or urllib.parse.urlparse(final).path.rstrip("/").endswith("/account/password"):
            raise CanaryError(f"password change refused (HTTP {status})")

    def upload(self, source: bytes, assignment: str = DEFAULT_ASSIGNMENT) -> tuple[int | None, int, str]:
        """(submission id or None, HTTP status, body) for one models.py upload to `assignment` (its slug)."""
        page = f"assignments/{urllib.parse.quote(assignment)}/"
        token = self._csrf(page)
        boundary = "nngrade-canary-" + uuid.uuid4().hex
        body = b"".join([
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="models_py"; filename="models.py"\r\n'
            "Content-Type: text/x-python\r\n\r\n".encode(),
            source,
            f"\r\n--{boundary}--\r\n".encode(),
        ])
        status, final, text = self.request(
            page + "submissions", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        match = re.search(r"/submissions/(\d+)$", urllib.parse.urlparse(final).path)
        return (int(match.group(1)) if match and status == 200 else None), status, text

    def status(self, submission_id: int) -> dict[str, Any]:
        status, _, body = self.request(f"submissions/{submission_id}/status.json")
        if status != 200:
            raise CanaryError(f"status.json of #{submission_id}: HTTP {status}")
        payload: dict[str, Any] = json.loads(body)
        return payload

    def result(self, submission_id: int) -> dict[str, tuple[str, int]]:
        status, _, body = self.request(f"submissions/{submission_id}")
        if status != 200:
            raise CanaryError(f"result page of #{submission_id}: HTTP {status}")
        page = _ResultPage()
        page.feed(body)
        return {q: (run_status(page.outcomes.get(q, "?")), p) for q, p in page.points.items()}


@dataclass(frozen=True)
class CanaryOptions:
    url: str
    assignment: str = DEFAULT_ASSIGNMENT
    timeout_s: float = 1800.0
    poll_s: float = 3.0
    retry_upload_s: float = 10.0


def run_case(portal: Portal, case: Case, options: CanaryOptions, deadline: float,
             log: Callable[[str], None]) -> Outcome:
    """Upload one file (waiting while the portal says not yet), wait for its grade, read the result page."""
    started = time.monotonic()
    outcome = Outcome(case)
    try:
        source = case.path.read_bytes()
        while True:
            submission_id, status, body = portal.upload(source, options.assignment)
            if submission_id is not None:
                break
            if status != 429 or time.monotonic() + options.retry_upload_s > deadline:
                raise CanaryError(f"upload refused (HTTP {status}): {_problem(body)}")
            time.sleep(options.retry_upload_s)  # one pending per student, or the minimum interval
        outcome.submission_id = submission_id
        log(f"{case.name}: submission #{submission_id} queued")
        while True:
            state = portal.status(submission_id)
            if not state.get("pending"):
                break
            if time.monotonic() > deadline:
                raise CanaryError(f"#{submission_id} still {state.get('status')} after {options.timeout_s:.0f} s")
            time.sleep(options.poll_s)
        outcome.got = portal.result(submission_id)
        if not outcome.got:
            raise CanaryError(f"#{submission_id} ended {state.get('status')} without a result: {state.get('detail')}")
    except (CanaryError, OSError, ValueError) as exc:
        outcome.error = str(exc)
    outcome.wall_s = time.monotonic() - started
    return outcome


def run_canary(cases: Sequence[Case], accounts: Sequence[tuple[str, str]], options: CanaryOptions,
               log: Callable[[str], None] = lambda line: None) -> list[Outcome]:
    """Every case through the portal; accounts work in parallel, each through its share of the cases."""
    deadline = time.monotonic() + options.timeout_s
    shares: list[list[Case]] = [[] for _ in accounts[: len(cases)]]
    for n, case in enumerate(cases):
        shares[n % len(shares)].append(case)
    results: dict[str, Outcome] = {}
    lock = threading.Lock()

    def work(account: tuple[str, str], share: list[Case]) -> None:
        portal = Portal(options.url)
        try:
            portal.log_in(*account)
        except (CanaryError, OSError) as exc:
            with lock:
                for case in share:
                    results[case.name] = Outcome(case, error=str(exc))
            return
        for case in share:
            done = run_case(portal, case, options, deadline, log)
            log(f"{case.name}: {'ok' if done.ok else 'DIFFERS'} ({done.wall_s:.0f} s)")
            with lock:
                results[case.name] = done

    with ThreadPoolExecutor(max_workers=len(shares)) as pool:
        for future in [pool.submit(work, a, s) for a, s in zip(accounts, shares, strict=False)]:
            future.result()
    return [results[c.name] for c in cases]


def print_table(outcomes: Sequence[Outcome], out: TextIO) -> None:
    rows = [("case", "expected", "got", "ok")]
    for o in outcomes:
        got = o.case.describe(o.got) if o.error is None else f"error: {o.error}"
        rows.append((o.case.name, o.case.describe(), got, "yes" if o.ok else "NO"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for n, row in enumerate(rows):
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]]), file=out)
        if n == 0:
            print("  ".join([*("-" * w for w in widths), "--"]), file=out)


def _problem(body: str) -> str:
    match = re.search(r'class="[^"]*(?:error|problem|notice)[^"]*"[^>]*>(.*?)<', body, re.S)
    return re.sub(r"\s+", " ", match.group(1)).strip()[:200] if match else body[:120]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    canary = subparsers.add_parser(
        "canary", help="upload the hostile battery and the staff solution to a running portal; check each outcome",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    canary.add_argument("--url", default="http://127.0.0.1:8000/", help="the portal (default %(default)s)")
    canary.add_argument("--credentials", type=Path,
                        help="CSV username,password of canary student accounts (from `nngrade roster import`)")
    canary.add_argument("--username", help="one account instead of a credentials file")
    canary.add_argument("--password", help="its password (default: $NNGRADE_CANARY_PASSWORD)")
    canary.add_argument("--assignment", default=DEFAULT_ASSIGNMENT,
                        help="the assignment's slug to upload to (default %(default)s, the demo course's)")
    canary.add_argument("--cases", default="all", help="comma-separated case names, or all (default)")
    canary.add_argument("--expected", type=Path, default=EXPECTED_FILE, help="expectations (default %(default)s)")
    canary.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")
    canary.add_argument("--poll", type=float, default=3.0, help="seconds between status polls")
    canary.add_argument("--print-roster", action="store_true",
                        help="print a roster of one canary account per case, for `nngrade roster import`, and exit")
    canary.add_argument("--json", action="store_true", help="print the outcomes as JSON instead of a table")
    canary.set_defaults(handler=_canary)


def _canary(args: argparse.Namespace) -> int:
    import os

    try:
        cases = select_cases(load_cases(args.expected), args.cases)
        if args.print_roster:
            sys.stdout.write(roster_csv(cases))
            return 0
        if args.username:
            password = args.password or os.environ.get("NNGRADE_CANARY_PASSWORD", "")
            accounts = [(args.username, password)]
        elif args.credentials:
            accounts = read_credentials(args.credentials)
        else:
            raise CanaryError("give --credentials FILE or --username (see --print-roster)")
    except (CanaryError, OSError, KeyError, ValueError) as exc:
        print(f"nngrade canary: {exc}", file=sys.stderr)
        return 2
    options = CanaryOptions(url=args.url, assignment=args.assignment, timeout_s=args.timeout, poll_s=args.poll)
    print(f"canary: {len(cases)} case(s), {min(len(accounts), len(cases))} account(s), {args.url}",
          file=sys.stderr, flush=True)
    outcomes = run_canary(cases, accounts, options, log=lambda line: print(f"  {line}", file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps([{"case": o.case.name, "ok": o.ok, "submission_id": o.submission_id, "error": o.error,
                           "expected": o.case.expected, "got": o.got, "wall_s": round(o.wall_s, 1)}
                          for o in outcomes], indent=2))
    else:
        print_table(outcomes, sys.stdout)
    failed = sum(not o.ok for o in outcomes)
    print(f"canary: {len(outcomes) - failed}/{len(outcomes)} as expected", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m cli.canary ...`: the same command without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="nngrade")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["canary", *(sys.argv[1:] if argv is None else argv)])
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
