"""Queue benchmark: a burst of N submissions on W worker processes, then a student upload during a regrade.

    .venv/bin/python bench/bench_queue.py [--count 40] [--workers 2] [--questions q1,q2]
        [--mix staff|deadline] [--runner local|docker] [--q1-wall-s 180] [--q2-wall-s 600]

Starts its own redis-server on a free loopback port, a SQLite gradebook in a temporary directory (or
--database-url) and one `python -m worker` with the real grader and the chosen runner. The burst is
enqueued at once, as at a deadline. --mix staff grades the staff solution N times; --mix deadline grades
a mix shaped like a real deadline (of every 10 files: 7 sound models, one that never stops training so
q1 runs into its wall limit (twice where the rules retry a timeout), one that does not train (q1 retried,
fast), one that raises in train()); shorter --q1-wall-s keeps its timeouts affordable. Prints:
  makespan / (sum of attempt CPU / workers)          the queue's and sandbox's overhead on the work itself
  makespan / (sum of single grade times / workers)   target <= 1.15
  student wait during a regrade / median grade time   target <= 1.0
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gradebook import assignments, submissions, users  # noqa: E402
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction  # noqa: E402
from gradebook.models import GradingRun  # noqa: E402
from gradebook.regrade import RegradeScope  # noqa: E402
from grader.limits import Limits  # noqa: E402
from nngrade.settings import Settings  # noqa: E402
from worker.api import GradingQueue  # noqa: E402

STAFF = REPO / "reference_solutions" / "staff" / "models.py"
BROKEN = REPO / "reference_solutions" / "broken"
# Of every 10 files at a deadline (see the module docstring).
DEADLINE_MIX = [STAFF] * 7 + [BROKEN / "infinite_loop.py", BROKEN / "no_training.py",
                               BROKEN / "exception_in_train.py"]
NO_LIMITS = submissions.UploadLimits(max_bytes=1 << 20, min_interval_s=0, per_day=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_done(sessions, run_ids, timeout_s=3600.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with transaction(sessions) as s:
            runs = s.scalars(select(GradingRun).where(GradingRun.id.in_(run_ids))).all()
            if all(r.status == "done" for r in runs):
                return runs
        time.sleep(0.5)
    raise TimeoutError("runs did not finish")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--questions", default="q1,q2")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--mix", choices=("staff", "deadline"), default="staff")
    parser.add_argument("--runner", choices=("local", "docker"), default="local")
    parser.add_argument("--q1-wall-s", type=float, default=180.0)
    parser.add_argument("--q2-wall-s", type=float, default=600.0)
    args = parser.parse_args()
    files = [STAFF] if args.mix == "staff" else DEADLINE_MIX
    questions = tuple(q for q in args.questions.split(",") if q)

    tmp = Path(tempfile.mkdtemp(prefix="nngrade-bench-"))
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    database_url = args.database_url or f"sqlite:///{tmp / 'gradebook.sqlite3'}"
    settings = Settings(var_dir=tmp / "var", database_url=database_url, redis_url=f"redis://127.0.0.1:{port}/0",
                        data_dir=Path(os.environ.get("NNGRADE_DATA_DIR", REPO / "var" / "data")),
                        storage_dir=tmp / "submissions", runner=args.runner,
                        secret_key="bench", worker_concurrency=args.workers)
    env = {**os.environ, "NNGRADE_VAR_DIR": str(settings.var_dir), "NNGRADE_DATABASE_URL": database_url,
           "NNGRADE_REDIS_URL": settings.redis_url, "NNGRADE_STORAGE_DIR": str(settings.storage_dir),
           "NNGRADE_DATA_DIR": str(settings.data_dir), "NNGRADE_RUNNER": args.runner, "PYTHONPATH": str(REPO)}
    migrate(database_url)
    with open(tmp / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker", f"--concurrency={args.workers}", "--loglevel=WARNING"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    queue = GradingQueue(settings)
    try:
        time.sleep(3)
        with transaction(sessions) as s:
            limits = {"q1": Limits(wall_s=args.q1_wall_s), "q2": Limits(wall_s=args.q2_wall_s)}
            hw = assignments.create_assignment(s, "bench", "Bench", datetime.now(UTC) + timedelta(days=1),
                                               questions=questions, limits=limits)
            people = [users.create_user(s, f"s{i:03d}", f"Student {i}", "pw") for i in range(args.count + 1)]
        source = STAFF.read_bytes()
        burst = []
        for i in range(args.count):
            with transaction(sessions) as s:
                sub, run = submissions.create_submission(s, s.merge(people[i]), s.merge(hw),
                                                         files[i % len(files)].read_bytes() + f"\n# {i}\n".encode(),
                                                         NO_LIMITS)
                burst.append(sub.id)
        started = time.time()
        run_ids = [queue.enqueue_submission(sub_id) for sub_id in burst]
        runs = wait_done(sessions, run_ids)
        makespan = max(r.finished_at for r in runs).timestamp() - started
        grade_times = [r.wall_s or 0.0 for r in runs]
        attempts = [a for r in runs for q in (r.report or {}).get("questions", []) for a in q.get("attempts", [])]
        attempt_cpu = sum(a.get("cpu_s", 0.0) for a in attempts)
        ideal = sum(grade_times) / args.workers
        cpu_ideal = attempt_cpu / args.workers
        with open("/proc/loadavg") as handle:
            load = " ".join(handle.read().split()[:3])
        print(f"{args.count} submissions ({','.join(questions)}, mix {args.mix}, {args.runner} runner, wall limits "
              f"q1 {args.q1_wall_s:g} s, q2 {args.q2_wall_s:g} s) on {args.workers} workers; load {load}")
        print(f"  makespan {makespan:.1f} s; {len(attempts)} attempts, sum of attempt CPU {attempt_cpu:.1f} s, "
              f"/ workers {cpu_ideal:.1f} s: ratio {makespan / cpu_ideal:.3f}")
        print(f"  sum of grade times / workers {ideal:.1f} s: ratio {makespan / ideal:.3f} (target <= 1.15)")
        ordered = sorted(grade_times)
        p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]  # nearest rank
        print(f"  grade time median {statistics.median(ordered):.1f} s, p90 {p90:.1f} s, max {ordered[-1]:.1f} s")

        change_set = queue.start_regrade(RegradeScope(assignment="bench"))
        while True:
            with transaction(sessions) as s:
                running = s.scalars(select(GradingRun).where(GradingRun.change_set_id == change_set,
                                                             GradingRun.status == "running")).all()
            if len(running) >= args.workers:
                break
            time.sleep(0.2)
        time.sleep(statistics.median(grade_times) / 3)
        uploaded = time.time()
        with transaction(sessions) as s:
            sub, run = submissions.create_submission(s, s.merge(people[-1]), s.merge(hw),
                                                     source, NO_LIMITS)
            sub_id, student_run = sub.id, run.id
        queue.enqueue_submission(sub_id)
        (student,) = wait_done(sessions, [student_run])
        waited = student.started_at.timestamp() - uploaded
        with transaction(sessions) as s:
            left = len(s.scalars(select(GradingRun).where(GradingRun.change_set_id == change_set,
                                                          GradingRun.status != "done")).all())
        one = statistics.median(grade_times)
        print(f"student upload during a {args.count}-submission regrade: waited {waited:.1f} s before starting "
              f"(median grade {one:.1f} s: ratio {waited / one:.2f}, target <= 1.0; "
              f"longest grade {max(grade_times):.1f} s); "
              f"{left} regrade runs were still pending when it finished")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        redis.kill()
        queue.close()
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
