"""Grading workers and their heartbeats: who is alive, on the database's clock.

A worker registers when it starts and beats every few seconds; it is alive while its last beat is younger
than the lease. Times come from the database server where it has a clock (PostgreSQL), so workers on
machines whose clocks disagree still agree on who is alive; SQLite is one machine, whose clock is used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from gradebook.db import rows_matched
from gradebook.models import Worker, utcnow


@dataclass(frozen=True)
class WorkerState:
    """A worker as its heartbeat row tells: identity, host, start, seconds since its last beat, whether it is alive, its
    grading processes and what keeps it from grading (None when healthy)."""

    id: str
    hostname: str
    started_at: datetime
    heartbeat_age_s: float
    alive: bool
    concurrency: int
    problem: str | None


def db_now(session: Session) -> datetime:
    """The database server's current time (UTC); this machine's on SQLite."""
    if session.get_bind().dialect.name == "sqlite":
        return utcnow()
    value = session.scalar(select(func.now()))
    if not isinstance(value, datetime):
        return utcnow()
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def register_worker(
    session: Session, worker_id: str, *, hostname: str, pid: int, started_at: datetime, concurrency: int,
    queues: Iterable[str],
) -> None:
    """Record a starting worker (or refresh it, when the same id registers twice)."""
    now = db_now(session)
    worker = session.get(Worker, worker_id)
    if worker is None:
        session.add(Worker(id=worker_id, hostname=hostname, pid=pid, started_at=started_at, heartbeat_at=now,
                           concurrency=concurrency, queues=",".join(queues)))
    else:
        worker.heartbeat_at, worker.stopped_at = now, None


def beat(session: Session, worker_id: str, problem: str | None = None) -> bool:
    """Refresh the worker's heartbeat and its self-reported problem; False if it is not registered."""
    result = session.execute(
        update(Worker).where(Worker.id == worker_id)
        .values(heartbeat_at=db_now(session), problem=problem[:2000] if problem else None)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result) == 1


def mark_stopped(session: Session, worker_id: str) -> None:
    """A clean stop: the worker is dead from now on, whatever its last heartbeat says."""
    session.execute(
        update(Worker).where(Worker.id == worker_id).values(stopped_at=db_now(session))
        .execution_options(synchronize_session=False)
    )


def worker_states(session: Session, lease_s: float, ids: Iterable[str] | None = None) -> dict[str, WorkerState]:
    """Known workers (all, or those in `ids`) with their liveness; an id not in the result is unknown."""
    now = db_now(session)
    query = select(Worker)
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = query.where(Worker.id.in_(wanted))
    states = {}
    for w in session.scalars(query):
        age = max(0.0, (now - w.heartbeat_at).total_seconds())
        states[w.id] = WorkerState(
            id=w.id, hostname=w.hostname, started_at=w.started_at, heartbeat_age_s=age,
            alive=w.stopped_at is None and age <= lease_s, concurrency=w.concurrency, problem=w.problem,
        )
    return states


def live_workers(session: Session, lease_s: float) -> list[WorkerState]:
    """Workers whose heartbeat is fresh, oldest first."""
    states = worker_states(session, lease_s)
    return sorted((s for s in states.values() if s.alive), key=lambda s: (s.started_at, s.id))


def forget_dead_workers(session: Session, older_than_s: float) -> int:
    """Drop records of workers silent for longer than `older_than_s` (their sandboxes are long reaped)."""
    cutoff = db_now(session) - timedelta(seconds=older_than_s)
    result = session.execute(
        delete(Worker).where(Worker.heartbeat_at < cutoff).execution_options(synchronize_session=False)
    )
    return rows_matched(result)
