"""`nngrade serve` (the portal under gunicorn) and `nngrade demo seed` (a demo course from a roster)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nngrade.settings import Settings, load_settings

DEMO_ROSTER = Path(__file__).resolve().parent.parent / "demo" / "roster.csv"
DEMO_ASSIGNMENT = "nn-project"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `nngrade serve` and `nngrade demo seed` to the command line."""
    serve = subparsers.add_parser("serve", help="run the web portal (gunicorn), migrating the database first")
    serve.add_argument("--host", help="bind address (default: NNGRADE_WEB_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: NNGRADE_WEB_PORT, 8000)")
    serve.add_argument("--workers", type=int, default=max(2, min(4, os.cpu_count() or 1)),
                       help="gunicorn worker processes")
    serve.add_argument("--threads", type=int, default=16, help="threads per worker")
    serve.add_argument("--demo", action="store_true", help="seed the demo course first (idempotent)")
    serve.set_defaults(handler=_serve)

    demo = subparsers.add_parser("demo", help="the demo course")
    actions = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    seed = actions.add_parser("seed", help="create an instructor, a TA and students from a roster file")
    seed.add_argument("--roster", type=Path, default=DEMO_ROSTER)
    seed.set_defaults(handler=_seed)


def _serve(args: argparse.Namespace) -> int:
    from gradebook.db import migrate

    # The secret is made here, once, before gunicorn's workers each read it.
    settings = load_settings(make_secret=True)
    migrate(settings.database_url, storage_dir=settings.storage_dir)
    if args.demo:
        seed_demo(settings, DEMO_ROSTER)
    host = args.host or settings.web_host
    port = args.port or settings.web_port
    from dataclasses import replace

    from nngrade.settings import SettingsError
    from web.app import cookies_secure

    try:
        cookies_secure(replace(settings, web_host=host))
    except SettingsError as exc:
        print(f"nngrade serve: {exc}", file=sys.stderr)
        return 2
    # The app under gunicorn reads its settings again: it must know the address it is really bound to.
    os.environ["NNGRADE_WEB_HOST"] = host
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
    if gunicorn is None:
        print("nngrade serve: gunicorn is not installed in this environment")
        return 1
    argv = [
        gunicorn, "web.wsgi:app",
        "--config", "python:web.gunicorn_conf",
        "--bind", f"{host}:{port}",
        "--worker-class", "gthread", "--workers", str(args.workers), "--threads", str(args.threads),
        "--timeout", "60", "--graceful-timeout", "20", "--keep-alive", "5",
        "--access-logfile", "-", "--forwarded-allow-ips", "127.0.0.1",
    ]
    print(f"nngrade portal on http://{host}:{port}/ ({args.workers} workers × {args.threads} threads)", flush=True)
    os.execv(gunicorn, argv)
    return 0  # not reached


def _seed(args: argparse.Namespace) -> int:
    from gradebook.db import migrate

    settings = load_settings()
    migrate(settings.database_url, storage_dir=settings.storage_dir)
    path = seed_demo(settings, args.roster)
    print(f"demo course ready; credentials in {path}")
    return 0


def seed_demo(settings: Settings, roster: Path) -> Path:
    """Accounts from the roster and the assignment, once; new accounts' passwords go to var/."""
    from gradebook import assignments
    from gradebook import roster as rosters
    from gradebook.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(settings.database_url)
    credentials_path = settings.var_dir / "demo-credentials.txt"
    try:
        with transaction(make_sessionmaker(engine)) as session:
            result = rosters.import_roster(session, roster.read_text(encoding="utf-8"))
            if assignments.get_assignment(session, DEMO_ASSIGNMENT) is None:
                now = datetime.now(UTC).replace(microsecond=0)
                assignments.create_assignment(
                    session, DEMO_ASSIGNMENT, "Project 3b: neural networks", now + timedelta(days=14),
                    late_due_at=now + timedelta(days=16), late_penalty_pct=20.0, score_policy="best")
            if result.credentials:
                credentials_path.parent.mkdir(parents=True, exist_ok=True)
                if credentials_path.exists():
                    # Keep earlier passwords readable: new accounts get a file of their own.
                    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
                    credentials_path = credentials_path.with_name(f"demo-credentials-{stamp}.txt")
                rosters.write_credentials(credentials_path, result.credentials)
    finally:
        engine.dispose()
    return credentials_path
