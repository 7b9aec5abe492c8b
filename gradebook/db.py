"""Engines, sessions and migrations. SQLite (a file, zero set-up) by default; PostgreSQL through a URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine configured for concurrent web + worker processes on either backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so every transaction can start with BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when another
        # process wrote meanwhile; taking the write lock up front makes it wait (busy_timeout) instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine` whose rows stay readable after commit (views and the CLI use them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any exception."""
    with factory() as session, session.begin():
        yield session


def rows_matched(result: object) -> int:
    """How many rows an UPDATE or DELETE matched: the conditional writes below check it to know who won."""
    return int(getattr(result, "rowcount", 0) or 0)


def migrate(url: str, revision: str = "head", storage_dir: Path | None = None) -> None:
    """Bring the database at `url` to `revision` (creates the schema on an empty database).

    `storage_dir` is the folder store that held uploads before they lived in the database; the migration
    that moves them reads it (and only it). A database with uploads still to move needs it, else the
    migration stops with a message naming the setting.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            config.attributes["storage_dir"] = storage_dir
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The Alembic revision the database at `url` is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rev: str | None = MigrationContext.configure(connection).get_current_revision()
            return rev
    finally:
        engine.dispose()


def gradebook_problem(url: str) -> str:
    """Why there is no gradebook to read at `url` ("" when there is one), without creating anything: the
    SQLite file is missing, the database was never migrated, or it cannot be reached."""
    from sqlalchemy.exc import SQLAlchemyError

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_file():
            return f"no gradebook at {path.resolve()} (set NNGRADE_VAR_DIR or NNGRADE_DATABASE_URL)"
    try:
        revision = current_revision(url)
    except SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return (f"cannot read the gradebook at {parsed.render_as_string(hide_password=True)}: "
                f"{cause[0] if cause else type(exc).__name__}")
    if revision is None:
        return f"no gradebook in {parsed.render_as_string(hide_password=True)} (nothing migrated yet)"
    return ""
