"""The portal's database sessions: created on first use in a request, closed in teardown (flaskr's `get_db`).

Pages read through `read_session()`. Requests that change something also take `write_session()` and commit
it themselves. On SQLite every write transaction starts with BEGIN IMMEDIATE (gradebook/db.py), so reads go
through a second, query-only pool and never queue behind the writer; on PostgreSQL both are one engine.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from gradebook.db import make_engine, make_sessionmaker

_EXTENSION = "nngrade.db"


class Database:
    """The two engines and their session factories, one per app."""

    def __init__(self, url: str) -> None:
        self.write_engine = make_engine(url)
        self.read_engine = _read_engine(url, self.write_engine)
        self.write: sessionmaker[Session] = make_sessionmaker(self.write_engine)
        self.read: sessionmaker[Session] = make_sessionmaker(self.read_engine)

    def dispose(self) -> None:
        """Close every pooled connection (tests and shutdown)."""
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def init_app(app: Flask, url: str) -> None:
    """Open the database at `url` for `app` and close each request's sessions when the request ends."""
    app.extensions[_EXTENSION] = Database(url)
    app.teardown_appcontext(close_sessions)


def database() -> Database:
    """The current app's `Database`."""
    db: Database = current_app.extensions[_EXTENSION]
    return db


def read_session() -> Session:
    """This request's session for queries; it never writes (on SQLite, writes through it are errors)."""
    if "db_read" not in g:
        g.db_read = database().read()
    session: Session = g.db_read
    return session


def write_session() -> Session:
    """This request's session for changes; the caller commits. Uncommitted work is rolled back in teardown."""
    if "db_write" not in g:
        g.db_write = database().write()
    session: Session = g.db_write
    return session


def close_sessions(_error: BaseException | None = None) -> None:
    """Teardown: close (and so roll back anything uncommitted in) the request's sessions."""
    for name in ("db_write", "db_read"):
        session: Session | None = g.pop(name, None)
        if session is not None:
            session.close()


def _read_engine(url: str, write_engine: Engine) -> Engine:
    """Reads need no write lock: with SQLite's WAL they run beside the writer instead of queueing for it."""
    if make_url(url).get_backend_name() != "sqlite":
        return write_engine
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                           pool_size=32, max_overflow=32)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        # query_only turns a stray write through this pool into an error instead of a lock wait;
        # the memory map and a larger page cache serve the polled rows without read() calls.
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute(f"PRAGMA mmap_size={64 * 1024 * 1024}")
        cursor.execute("PRAGMA cache_size=-8192")
        cursor.close()

    return engine
