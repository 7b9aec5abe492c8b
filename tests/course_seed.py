"""A large course in a fresh gradebook, written in bulk: hundreds of students with submissions in every state
(graded with varied scores and metrics, queued, running, failed, superseded), a few flagged and a few
overridden. For the dashboard's tests, its browser test and bench/bench_dashboard.py. Holds no tests.

Every student shares one password hash (hashing 600 passwords would take a minute); runs carry their
per-question results but no full report, as the dashboard reads none.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from gradebook import assignments, storage, users
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction
from gradebook.models import GradingRun, Override, QuestionRecord, Submission, User, Worker

STUDENT_PASSWORD = "student-pass-1"
STAFF_PASSWORD = "staff-pass-1"
TA_NAME = "ta.grande"
INSTRUCTOR_NAME = "prof.grande"
SLUG = "nn"
FIRST = ("Ana", "Bruno", "Carmen", "Diego", "Elena", "Fernando", "Gloria", "Hugo", "Irene", "Javier", "Lucía",
         "Manuel", "Nuria", "Óscar", "Paula", "Raúl", "Sara", "Tomás", "Valeria", "Zoe")
LAST = ("García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Díaz", "Moreno", "Álvarez", "Romero",
        "Navarro", "Torres", "Ramírez", "Ruiz", "Serrano", "Molina", "Ortega", "Delgado", "Castro", "Núñez")


# Two grading workers of two processes each, beating for as long as a test or a bench may take.
WORKERS = 2
WORKER_CONCURRENCY = 2


@dataclass(frozen=True)
class SeededCourse:
    """What the seeding made: counts by the latest submission's state, and where to look."""

    students: int
    queued: int  # students whose latest submission waits in the queue
    running: int
    graded: int
    failed: int
    flagged: int
    slug: str = SLUG


def student_name(i: int) -> str:
    return f"s{i:04d}"


def seed_course(url: str, students: int = 600, seed: int = 0, now: datetime | None = None) -> SeededCourse:
    """Migrate `url` and fill it; returns the expected tile counts."""
    migrate(url)
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    source = (Path(__file__).parent.parent / "reference_solutions" / "staff" / "models.py").read_bytes()
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    counts = {"queued": 0, "running": 0, "graded": 0, "failed": 0, "flagged": 0}
    try:
        with transaction(factory) as session:
            digest = storage.store_bytes(session, source)
            users.create_user(session, TA_NAME, "Tania Ayudante", STAFF_PASSWORD, "ta", must_change_password=False)
            prof = users.create_user(session, INSTRUCTOR_NAME, "Pedro Profesor", STAFF_PASSWORD, "instructor",
                                     must_change_password=False)
            prof_id = prof.id
            assignment = assignments.create_assignment(session, SLUG, "Redes neuronales", now + timedelta(days=7))
            assignment_id = assignment.id
            shared_hash = users.hash_password(STUDENT_PASSWORD)
            session.execute(insert(User), [
                {"username": student_name(i), "name": f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}",
                 "role": "student", "password_hash": shared_hash, "active": True, "must_change_password": False,
                 "created_at": now - timedelta(days=30)}
                for i in range(students)])
            ids = dict(session.execute(select(User.username, User.id).where(User.role == "student")).all())
            subs: list[dict[str, object]] = []
            plans: list[tuple[int, str]] = []  # (submission index in subs, run state)
            for i in range(students):
                n = i % 5  # 0..4 uploads
                for k in range(n):
                    uploaded = now - timedelta(hours=72 - 12 * k, minutes=rng.randrange(600))
                    subs.append({"user_id": ids[student_name(i)], "assignment_id": assignment_id, "sha256": digest,
                                 "filename": "models.py", "size_bytes": 1000, "uploaded_at": uploaded,
                                 "late": False, "flag_reason": "same file as another student" if i % 97 == 3 else None})
                    last = k == n - 1
                    state = "done"
                    if last and i % 40 == 1:
                        state = "queued"
                    elif last and i % 150 == 2:
                        state = "running"
                    elif last and i % 120 == 7:
                        state = "failed"
                    plans.append((len(subs) - 1, state))
                if n:
                    latest = plans[-1][1]
                    counts[{"done": "graded"}.get(latest, latest)] += 1
                    counts["flagged"] += i % 97 == 3
            session.execute(insert(Submission), subs)
            sub_ids = session.scalars(select(Submission.id).where(Submission.assignment_id == assignment_id)
                                      .order_by(Submission.id)).all()
            runs: list[dict[str, object]] = []
            for (index, state), sub_id in zip(plans, sub_ids, strict=True):
                uploaded = subs[index]["uploaded_at"]
                assert isinstance(uploaded, datetime)
                started = uploaded + timedelta(seconds=rng.randrange(5, 120))
                duration = timedelta(seconds=rng.randrange(40, 240))
                q1, q2 = _points(rng)
                runs.append({
                    "submission_id": sub_id, "purpose": "submission", "status": state,
                    "current": state == "done", "enqueued_at": uploaded, "created_at": uploaded,
                    "started_at": started if state in ("done", "running", "failed") else None,
                    "finished_at": started + duration if state in ("done", "failed") else None,
                    "heartbeat_at": started if state == "running" else None,
                    "deliveries": 1, "infra_failures": 0,
                    "total_points": q1 + q2 if state == "done" else None,
                    "max_points": 12 if state == "done" else None,
                    "wall_s": duration.total_seconds() if state == "done" else None, "runner": "docker"})
            session.execute(insert(GradingRun), runs)
            done = session.execute(select(GradingRun.id, GradingRun.total_points).join(
                Submission, Submission.id == GradingRun.submission_id)
                .where(Submission.assignment_id == assignment_id, GradingRun.status == "done")).all()
            records: list[dict[str, object]] = []
            for run_id, total in done:
                q1 = min(6, total or 0)
                q2 = (total or 0) - q1
                loss = 0.004 + rng.random() * 0.01 if q1 == 6 else 0.03 + rng.random() * 0.5
                accuracy = 0.972 + rng.random() * 0.01 if q2 == 6 else 0.80 + rng.random() * 0.16
                records.append({"run_id": run_id, "question": "q1", "title": "Regression: fit sin(x)",
                                "outcome": "passed" if q1 == 6 else "below_threshold", "points": q1, "max_points": 6,
                                "metric_name": "loss", "metric_value": loss, "recorded_at": now, "result": {}})
                records.append({"run_id": run_id, "question": "q2", "title": "Digit classification (MNIST)",
                                "outcome": "passed" if q2 == 6 else ("error" if q2 == 0 else "below_threshold"),
                                "points": q2, "max_points": 6, "metric_name": "accuracy",
                                "metric_value": None if q2 == 0 else accuracy, "recorded_at": now, "result": {}})
            session.execute(insert(QuestionRecord), records)
            overridden = session.scalars(select(GradingRun.submission_id).where(GradingRun.status == "done")
                                         .order_by(GradingRun.id).limit(3)).all()
            session.execute(insert(Override), [
                {"submission_id": sid, "question": "q2", "points": 6, "author_id": prof_id, "created_at": now,
                 "reason": "corrección manual revisada", "revoked": False} for sid in overridden])
            session.execute(insert(Worker), [
                {"id": f"seed-worker-{n}", "hostname": "seed", "pid": 1000 + n, "started_at": now - timedelta(hours=1),
                 "heartbeat_at": now + timedelta(days=1), "concurrency": WORKER_CONCURRENCY, "queues": "student,bulk"}
                for n in range(WORKERS)])
            assert session.scalar(select(func.count()).select_from(User).where(User.role == "student")) == students
    finally:
        engine.dispose()
    return SeededCourse(students=students, **counts)


def _points(rng: random.Random) -> tuple[int, int]:
    q1 = rng.choice((2, 6, 6, 6, 0))
    q2 = rng.choice((0, 2, 6, 6))
    return q1, q2
