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
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cli.canary_portal import DEFAULT_ASSIGNMENT, CanaryError, Portal

SOLUTIONS_DIR = Path(__file__).resolve().parent.parent / "reference_solutions"
EXPECTED_FILE = SOLUTIONS_DIR / "expected.json"
STAFF = "staff"
ROSTER_PREFIX = "canary-"  # gradebook.users.CANARY_PREFIX: such accounts are left out of exports and dashboards


@dataclass(frozen=True)
class Case:
    """One file and what it must get: per question, the run status and the points."""

    name: str
    path: Path
    expected: dict[str, tuple[str, int]]

    def describe(self, got: dict[str, tuple[str, int]] | None = None) -> str:
        """The expected outcome per question, or `got`'s for the same questions: "q1 ok 6, q2 ok 6"."""
        source = self.expected if got is None else got
        return ", ".join(f"{q} {source[q][0]} {source[q][1]}" if q in source else f"{q} -" for q in self.expected)


@dataclass
class Outcome:
    """What one case got through the portal: per question (run status, points), or the error that stopped it, its
    submission and the seconds it took."""

    case: Case
    got: dict[str, tuple[str, int]] = field(default_factory=dict)
    error: str | None = None
    submission_id: int | None = None
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        """The case ran and every expected question got its expected status and points."""
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
    """The cases named in `wanted` (comma-separated, ".py" optional), or all of them for "all". Raises CanaryError
    naming any unknown case."""
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


@dataclass(frozen=True)
class CanaryOptions:
    """Where and how long the canary runs: the portal's URL, the assignment's slug, the overall timeout, and the seconds
    between status polls and between refused uploads."""

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
    """The outcomes as a table on `out`: case, expected, got, and whether they agree."""
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
    """Add `nngrade canary` to the command line."""
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
