"""Course administration: `nngrade roster|regrade|export|status|retry|worker`, thin over gradebook and worker."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from nngrade.settings import Settings, load_settings

if TYPE_CHECKING:
    from gradebook.regrade import RegradeScope, ScoreChange
    from worker.api import GradingQueue, QueueStatus


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `nngrade roster`, `regrade`, `export`, `status`, `retry` and `worker` to the command line."""
    roster = subparsers.add_parser("roster", help="manage accounts")
    actions = roster.add_subparsers(dest="roster_command", metavar="ACTION", required=True)
    imp = actions.add_parser("import", help="create accounts from a CSV (username,name,email,role; or the "
                                            "Spanish usuario,nombre,correo,rol)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--credentials", type=Path, default=None,
                     help="where to write new accounts' initial passwords (default: var/credentials-TIME.csv)")
    imp.set_defaults(handler=_roster_import)

    regrade = subparsers.add_parser(
        "regrade", help="regrade in the background, review the before/after table, then apply")
    regrade.add_argument("--assignment", help="only this assignment (slug)")
    regrade.add_argument("--student", help="only this student (username)")
    regrade.add_argument("--only-failed", action="store_true", help="only submissions below full marks")
    regrade.add_argument("--reason", default="", help="recorded with the change-set")
    regrade.add_argument("--apply", action="store_true", help="apply without asking")
    regrade.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    regrade.set_defaults(handler=_regrade)

    export = subparsers.add_parser(
        "export", help="CSV of final scores for an LMS import",
        description="CSV of final scores for an LMS import: comma-separated UTF-8 by default; --excel writes the "
                    "form a Spanish (decimal-comma) Excel opens directly.")
    export.add_argument("assignment", help="assignment slug")
    export.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: stdout)")
    export.add_argument("--excel", action="store_true",
                        help="for Excel set to Spanish (or any decimal-comma locale): semicolons between cells, "
                             "decimal commas, UTF-8 with a byte-order mark")
    export.set_defaults(handler=_export)

    status = subparsers.add_parser(
        "status", help="queue depth, running, delayed and failed runs, workers alive and their health")
    status.set_defaults(handler=_status)

    retry = subparsers.add_parser("retry", help="grade a failed (or delayed) run again now")
    retry.add_argument("run", type=int, nargs="+", help="run id(s), as `nngrade status` lists them")
    retry.set_defaults(handler=_retry)

    worker = subparsers.add_parser("worker", help="run a grading worker (Celery) with its database sweep")
    from worker.__main__ import add_worker_arguments

    add_worker_arguments(worker)
    worker.set_defaults(handler=_worker)


def _roster_import(args: argparse.Namespace) -> int:
    from gradebook import roster
    from gradebook.db import make_engine, make_sessionmaker, migrate, transaction

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        return _fail("roster import", f"cannot read {args.file}: {exc.strerror or exc}")
    try:
        text, encoding = roster.decode_roster(data)
        roster.parse_roster(text)  # every row checked before the gradebook is touched
    except roster.RosterError as exc:
        return _fail("roster import", f"{args.file}: {exc}")
    if encoding != "UTF-8":
        print(f"{args.file}: read as {encoding}")
    settings = load_settings()
    migrate(settings.database_url, storage_dir=settings.storage_dir)
    credentials = args.credentials or settings.var_dir / (
        "credentials-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + ".csv")
    engine = make_engine(settings.database_url)
    try:
        # One transaction: a row refused by the gradebook, or credentials that cannot be written, leave
        # every account as it was.
        with transaction(make_sessionmaker(engine)) as session:
            result = roster.import_roster(session, text)
            if result.credentials:
                credentials.parent.mkdir(parents=True, exist_ok=True)
                roster.write_credentials(credentials, result.credentials)
    except roster.RosterError as exc:
        return _fail("roster import", f"{args.file}: {exc}; nothing imported")
    except OSError as exc:
        return _fail("roster import", f"cannot write {credentials}: {exc.strerror or exc}; nothing imported")
    finally:
        engine.dispose()
    print(f"{len(result.created)} created, {len(result.updated)} updated, {len(result.unchanged)} unchanged")
    if result.credentials:
        print(f"initial passwords for new accounts: {credentials} (readable by you only)")
    return 0


def _existing_gradebook(command: str) -> Settings | None:
    """The settings when their gradebook exists; else None, having said why on one line (and created nothing)."""
    from gradebook.db import gradebook_problem

    settings = load_settings()
    problem = gradebook_problem(settings.database_url)
    if problem:
        _fail(command, problem)
        return None
    return settings


def _fail(command: str, reason: str) -> int:
    """Say `reason` on one line of stderr, as `nngrade COMMAND: reason`; the exit status for a refusal."""
    print(f"nngrade {command}: {reason}", file=sys.stderr)
    return 2


def _regrade(args: argparse.Namespace) -> int:
    from gradebook.regrade import RegradeError, RegradeScope

    settings = _existing_gradebook("regrade")
    if settings is None:
        return 2
    scope = RegradeScope(assignment=args.assignment, student=args.student, only_failed=args.only_failed)
    try:
        return run_regrade(settings, scope, reason=args.reason, apply=args.apply, timeout_s=args.timeout)
    except RegradeError as exc:
        print(f"nngrade regrade: {exc}", file=sys.stderr)
        return 2


def run_regrade(
    settings: Settings, scope: RegradeScope, *, reason: str = "", apply: bool = False, timeout_s: float | None = None,
    out: TextIO = sys.stdout, answer: TextIO = sys.stdin, poll_s: float = 0.5, queue: GradingQueue | None = None,
) -> int:
    """Create the change-set, show progress until it is graded, show the changes, apply when confirmed."""
    from gradebook import regrade
    from gradebook.db import migrate, transaction
    from worker.api import GradingQueue

    migrate(settings.database_url, storage_dir=settings.storage_dir)
    grading = queue or GradingQueue(settings)
    try:
        change_set_id = grading.start_regrade(scope, reason=reason)
        print(f"change-set {change_set_id}: grading in the background (bulk queue)", file=out)
        if not grading.status().workers:
            print("warning: no worker answered; start one with `nngrade worker`", file=out)
        if not _wait_until_graded(grading, change_set_id, timeout_s, poll_s, out):
            print(f"timed out; change-set {change_set_id} keeps grading. Nothing applied.", file=out)
            return 1
        with transaction(grading.sessions) as session:
            applied = regrade.apply_if_unchanged(session, change_set_id)
        if applied is not None:
            # Same points: nothing to decide, and the feedback students read is the current grader's.
            print(f"no score changed; applied: {applied} run(s) now current with the same points, the previous "
                  "results kept (recorded as applied automatically).", file=out)
            return 0
        with transaction(grading.sessions) as session:
            changes = regrade.diff(session, change_set_id)
        _print_changes(changes, out)
        if not apply:
            print(f"apply {len(changes)} change(s)? [y/N] ", end="", file=out, flush=True)
            apply = answer.readline().strip().lower() in ("y", "yes")
        with transaction(grading.sessions) as session:
            if apply:
                applied = regrade.apply_change_set(session, change_set_id)
                print(f"applied: {applied} run(s) now current; the previous results are kept.", file=out)
            else:
                regrade.discard_change_set(session, change_set_id)
                print("discarded; no grade changed.", file=out)
        return 0
    finally:
        if grading is not queue:
            grading.close()


def _print_changes(changes: list[ScoreChange], out: TextIO) -> None:
    rows = [("student", "assignment", "question", "before", "after")]
    for c in changes:
        rows.append((c.username, c.assignment, c.question, _pts(c.before), _pts(c.after)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)


def _pts(value: int | None) -> str:
    return "-" if value is None else str(value)


def _wait_until_graded(
    grading: GradingQueue, change_set_id: int, timeout_s: float | None, poll_s: float, out: TextIO,
) -> bool:
    """Poll the change-set's progress every `poll_s` seconds behind a progress bar (rich; on a file or pipe
    only its final state is written); False when `timeout_s` passed first."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from gradebook import regrade
    from gradebook.db import transaction

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    columns = (BarColumn(), MofNCompleteColumn(), TextColumn("graded, {task.fields[busy]}", markup=False))
    with Progress(*columns, console=Console(file=out)) as bar:
        task = bar.add_task("regrade", total=None, busy="")
        while True:
            with transaction(grading.sessions) as session:
                progress = regrade.progress(session, change_set_id)
            busy = f"{progress.running} running" + (f", {progress.delayed} delayed" if progress.delayed else "")
            bar.update(task, completed=progress.done, total=progress.total, busy=busy)
            if progress.finished:
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(poll_s)


def _export(args: argparse.Namespace) -> int:
    from gradebook.assignments import get_assignment
    from gradebook.db import make_engine, make_sessionmaker, transaction
    from gradebook.export import EXCEL_ENCODING, export_csv

    settings = _existing_gradebook("export")
    if settings is None:
        return 2
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            assignment = get_assignment(session, args.assignment)
            if assignment is None:
                print(f"nngrade export: no assignment {args.assignment!r}", file=sys.stderr)
                return 2
            text = export_csv(session, assignment, excel=args.excel)
    finally:
        engine.dispose()
    encoding = EXCEL_ENCODING if args.excel else "utf-8"
    if args.output is None and not args.excel:
        sys.stdout.write(text)
    elif args.output is None:  # the byte-order mark goes out as bytes, whatever stdout's own encoding
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode(encoding))
        sys.stdout.buffer.flush()
    else:
        args.output.write_bytes(text.encode(encoding))
        print(f"wrote {args.output}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from worker.api import GradingQueue

    settings = _existing_gradebook("status")
    if settings is None:
        return 2
    queue = GradingQueue(settings)
    try:
        for line in status_lines(queue.status()):
            print(line)
    finally:
        queue.close()
    return 0


def status_lines(status: QueueStatus, traceback_lines: int = 40, tracebacks: int = 5) -> list[str]:
    """What `nngrade status` prints: counts, workers and their health, failed runs with the newest
    `tracebacks` tracebacks (their last `traceback_lines` lines)."""
    c = status.counts
    depth = "unreachable" if status.broker_depth is None else ", ".join(
        f"{q} {n}" for q, n in status.broker_depth.items())
    oldest = "-" if c.oldest_wait_s is None else f"{c.oldest_wait_s:.0f} s"
    out = [
        f"queued:        {c.queued_student} student, {c.queued_bulk} regrade",
        f"running:       {c.running}",
        f"delayed:       {c.delayed} (infrastructure faults, retrying)",
        f"failed:        {c.failed} (need staff: nngrade retry RUN)",
        f"oldest wait:   {oldest}",
        f"broker depth:  {depth}",
        f"workers alive: {len(status.live)}",
    ]
    for w in status.live:
        health = f"cannot grade: {w.problem}" if w.problem else "healthy"
        out.append(f"  {w.id}  ({w.concurrency} processes, beat {w.heartbeat_age_s:.0f} s ago, {health})")
    for number, f in enumerate(status.failed):
        out.append(f"failed run {f.run_id} (submission {f.submission_id}, {f.username}, {f.purpose}, "
                   f"{f.failures} failures): {f.summary}")
        if number < tracebacks:
            lines = f.failure.rstrip().splitlines()
            if len(lines) > traceback_lines:
                lines = ["...", *lines[-traceback_lines:]]
            out.extend(f"    {line}" for line in lines)
    return out


def _retry(args: argparse.Namespace) -> int:
    from gradebook.db import transaction
    from gradebook.models import GradingRun
    from worker.api import GradingQueue

    settings = _existing_gradebook("retry")
    if settings is None:
        return 2
    queue = GradingQueue(settings)
    refused = 0
    try:
        for run_id in args.run:
            if queue.retry(run_id):
                print(f"run {run_id}: queued again")
                continue
            refused += 1
            with transaction(queue.sessions) as session:
                run = session.get(GradingRun, run_id)
                status = None if run is None else run.status
            if status is None:
                print(f"nngrade retry: there is no run {run_id} (`nngrade status` lists failed runs)",
                      file=sys.stderr)
            else:
                print(f"nngrade retry: run {run_id} is {status}, not failed or delayed; left as it is",
                      file=sys.stderr)
    finally:
        queue.close()
    return 1 if refused else 0


def _worker(args: argparse.Namespace) -> int:
    from gradebook.db import migrate
    from worker.__main__ import start_from_args

    settings = load_settings()
    migrate(settings.database_url, storage_dir=settings.storage_dir)
    return start_from_args(args)
