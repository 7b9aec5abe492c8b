"""Operator drills against the real engine, Redis and PostgreSQL: many workers, faults that are never the
student's, fair limits on a loaded host.

- Two workers grade a burst; a third joins and the first is killed and restarted mid-grade: every
  submission graded exactly once, no attempt lost, crashed or charged, no sandbox left on the engine.
- A worker whose MNIST cache breaks delays the submission (never an error of the student's); a healthy
  worker then grades it correctly. A worker that knows its cache is broken takes no task until it is fixed.
- A CPU hog on the host while a model near its CPU budget trains: same outcome and metric as without.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from test_worker_support import (
    DATA_DIR,
    REPO,
    RedisServer,
    WorkerProcess,
    redis_server,  # noqa: F401  # a fixture
    start_worker,
    throwaway_postgres,
    wait_for,
    wait_worker_ready,
)

from cli.course import status_lines
from gradebook import assignments, submissions, users
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction
from gradebook.models import GradingRun, QuestionRecord, Worker
from gradebook.status import run_status_label
from grader import mnist
from grader.limits import Limits
from grader.runs import RunRequest
from nngrade.settings import Settings
from sandbox.engine import OWNER_LABEL, SANDBOX_LABEL, Engine
from sandbox.owner import owner_id
from worker.api import GradingQueue
from worker.options import WorkerOptions

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.docker]

STAFF = REPO / "reference_solutions" / "staff" / "models.py"
QUICK = REPO / "reference_solutions" / "broken" / "exception_in_train.py"  # q1: 2/6, error inside train()
NO_LIMITS = submissions.UploadLimits(max_bytes=1 << 20, min_interval_s=0, per_day=0)
FAST = {"visibility_timeout_s": "30", "lease_s": "3", "heartbeat_s": "0.5", "sweep_interval_s": "1",
        "queued_grace_s": "3", "retry_base_s": "1", "retry_cap_s": "2", "publish_timeout_s": "1"}


@dataclass
class Drill:
    settings: Settings
    sessions: sessionmaker[Session]
    queue: GradingQueue
    tmp: Path
    env: dict[str, str]
    workers: list[WorkerProcess]

    def worker(self, name: str, concurrency: int = 1, data_dir: Path = DATA_DIR, **options: str) -> WorkerProcess:
        env = {**self.env, "NNGRADE_DATA_DIR": str(data_dir)}
        w = start_worker(self.tmp, env, name=name, concurrency=concurrency, options={**FAST, **options})
        self.workers.append(w)
        wait_worker_ready(self.queue.app, w, timeout_s=60)
        return w

    def assignment(self, questions: tuple[str, ...]) -> int:
        with transaction(self.sessions) as s:
            hw = assignments.create_assignment(s, "hw", "HW", due_at=datetime.now(UTC) + timedelta(days=1),
                                               questions=questions, seeds=(0, 1))
            return hw.id

    def upload(self, username: str, assignment_id: int, source: Path, salt: str = "") -> int:
        data = source.read_bytes() + f"\n# {salt or username}\n".encode()
        with transaction(self.sessions) as s:
            user = users.create_user(s, username, username.title(), "pw")
            hw = s.get(assignments.Assignment, assignment_id)
            assert hw is not None
            sub, run = submissions.create_submission(s, user, hw, data, NO_LIMITS)
            submission_id, run_id = sub.id, run.id
        assert self.queue.enqueue_submission(submission_id) == run_id
        return run_id

    def runs(self) -> list[GradingRun]:
        with transaction(self.sessions) as s:
            return list(s.scalars(select(GradingRun).order_by(GradingRun.id)))

    def run(self, run_id: int) -> GradingRun:
        with transaction(self.sessions) as s:
            run = s.get(GradingRun, run_id)
            assert run is not None
            return run

    def worker_ids(self, name: str) -> list[str]:
        with transaction(self.sessions) as s:
            return list(s.scalars(select(Worker.id).where(Worker.id.like(f"{name}@%")).order_by(Worker.started_at)))

    def wait_done(self, run_ids: list[int], timeout_s: float) -> None:
        def all_done() -> bool:
            return all(self.run(r).status == "done" for r in run_ids)

        try:
            wait_for(all_done, timeout_s, f"runs {run_ids} to finish", interval_s=0.5)
        except AssertionError:
            logs = "\n".join(w.log()[-4000:] for w in self.workers)
            raise AssertionError(f"runs not done: {[(r.id, r.status) for r in self.runs()]}\n{logs}") from None


@pytest.fixture
def drill(tmp_path: Path, redis_server: RedisServer, docker_engine: Engine) -> Iterator[Drill]:  # noqa: F811
    with throwaway_postgres() as url:
        migrate(url)
        env = {
            "NNGRADE_VAR_DIR": str(tmp_path / "var"),
            "NNGRADE_DATABASE_URL": url,
            "NNGRADE_REDIS_URL": redis_server.url,
            "NNGRADE_RUNNER": "docker",
        }
        settings = Settings(var_dir=tmp_path / "var", database_url=url, redis_url=redis_server.url,
                            data_dir=DATA_DIR, runner="docker", secret_key="drill", worker_concurrency=1)
        queue = GradingQueue(settings, WorkerOptions(**{k: float(v) for k, v in FAST.items()}))
        engine = make_engine(url)
        drill = Drill(settings, make_sessionmaker(engine), queue, tmp_path, env, [])
        try:
            yield drill
        finally:
            owners = {i for w in ("a", "b", "c", "broken", "healthy") for i in drill.worker_ids(w)}
            for w in drill.workers:
                w.stop()
            queue.close()
            engine.dispose()
            for container in docker_engine.containers_info({SANDBOX_LABEL: "1"}):
                if container.labels.get(OWNER_LABEL) in owners:  # only ours: other sandboxes share this engine
                    docker_engine.remove(container.id)


def our_sandboxes(engine: Engine, owners: set[str]) -> list[str]:
    return [c.id for c in engine.containers_info({SANDBOX_LABEL: "1"}) if c.labels.get(OWNER_LABEL) in owners]


def test_workers_join_and_restart_mid_burst_and_grade_everything_once(drill: Drill, docker_engine: Engine) -> None:
    hw = drill.assignment(("q1",))
    a = drill.worker("a")
    drill.worker("b")
    sources = [STAFF, QUICK, STAFF, STAFF, QUICK, STAFF, STAFF, QUICK]
    run_ids = [drill.upload(f"s{i}", hw, source) for i, source in enumerate(sources)]
    [a_id], [b_id] = drill.worker_ids("a"), drill.worker_ids("b")

    def held_by(worker_id: str) -> int | None:
        return next((r.id for r in drill.runs() if r.status == "running" and r.worker_id == worker_id), None)

    wait_for(lambda: held_by(a_id) and held_by(b_id), 60, "both workers to be grading")
    drill.worker("c")  # joins mid-burst: its start must not touch a or b's sandboxes
    wait_for(lambda: held_by(a_id) and our_sandboxes(docker_engine, {a_id}), 60, "a to be grading in a sandbox")
    killed_run = held_by(a_id)
    a.kill()  # the whole worker, pool process included, mid-grade
    assert killed_run is not None
    drill.worker("a")  # and back
    drill.wait_done(run_ids, 300)

    with transaction(drill.sessions) as s:
        records = s.execute(select(QuestionRecord.run_id, QuestionRecord.outcome, QuestionRecord.points)).all()
        attempts = [a for (result,) in s.execute(select(QuestionRecord.result)) for a in result["attempts"]]
        finished = s.scalar(select(func.count()).select_from(GradingRun).where(GradingRun.status == "done"))
    assert sorted(r.run_id for r in records) == sorted(run_ids), "each run graded exactly once"
    assert finished == len(run_ids)
    expected = {run_id: ("passed", 6) if source == STAFF else ("error", 2) for run_id, source in zip(
        run_ids, sources, strict=True)}
    assert {r.run_id: (r.outcome, r.points) for r in records} == expected
    assert not [a for a in attempts if a["outcome"] in ("crashed", "infrastructure_error", "timeout")]
    killed = drill.run(killed_run)
    assert killed.deliveries >= 2 and killed.worker_id != a_id

    owners = {i for w in ("a", "b", "c") for i in drill.worker_ids(w)}
    assert len(owners) == 4  # a, its restart, b and c: four identities
    wait_for(lambda: not our_sandboxes(docker_engine, owners), 30, "the killed worker's sandbox to be reaped")
    status = drill.queue.status()
    assert a_id not in status.workers and len(status.workers) == 3, status_lines(status)


@pytest.fixture(scope="module")
def mnist_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the MNIST cache (the real one is never written), shared by this module's drills."""
    root = tmp_path_factory.mktemp("mnist")
    shutil.copytree(DATA_DIR, root / "data", ignore=shutil.ignore_patterns(".lock", ".build-*"))
    return root / "data"


def worker_cache(root: Path, source: Path) -> Path:
    """One worker's cache: the images hard-linked from `source` (real files the sandbox can mount), the
    manifest and labels copied so the drill can damage them."""
    (root / "public").mkdir(parents=True)
    (root / "private").mkdir()
    shutil.copy(source / mnist.MANIFEST, root / mnist.MANIFEST)
    for rel in mnist.CACHE_FILES:
        if "labels" in rel:
            shutil.copy(source / rel, root / rel)
        else:
            os.link(source / rel, root / rel)
    for path in (root, root / "public"):
        path.chmod(0o755)
    return root


def flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


def test_a_corrupt_mnist_cache_delays_and_a_healthy_worker_grades(drill: Drill, mnist_copy: Path) -> None:
    hw = drill.assignment(("q2",))
    cache = worker_cache(drill.tmp / "broken-data", mnist_copy)
    # Healthy when it starts; it checks itself again only much later, so the grade is what finds the damage.
    drill.worker("broken", data_dir=cache, health_interval_s="600")
    flip_a_bit(cache / mnist.TRAIN_LABELS)
    run_id = drill.upload("ada", hw, STAFF)
    wait_for(lambda: drill.run(run_id).infra_failures >= 1, 60, "the broken worker to give the run back")
    run = drill.run(run_id)
    assert run.status in ("delayed", "queued", "running") and run.total_points is None
    assert "MNIST cache" in (run.delay_reason or "")
    assert run_status_label(run) in ("grading delayed", "queued", "grading")  # what the student sees
    with transaction(drill.sessions) as s:
        assert s.scalar(select(func.count()).select_from(QuestionRecord)) == 0, "nothing charged"

    drill.worker("healthy")
    drill.wait_done([run_id], 120)
    run = drill.run(run_id)
    [healthy] = drill.worker_ids("healthy")
    assert (run.total_points, run.max_points, run.worker_id) == (6, 6, healthy)
    assert run.report is not None
    attempts = run.report["questions"][0]["attempts"]
    assert [a["outcome"] for a in attempts] == ["passed"] and attempts[0]["metric_value"] >= 0.97


def test_a_worker_that_knows_its_cache_is_broken_takes_no_task_until_fixed(drill: Drill, mnist_copy: Path) -> None:
    hw = drill.assignment(("q2",))
    cache = worker_cache(drill.tmp / "broken-data", mnist_copy)
    labels = cache / mnist.TRAIN_LABELS
    good = labels.read_bytes()
    flip_a_bit(labels)
    drill.worker("broken", data_dir=cache, health_interval_s="0.5")
    [broken] = drill.worker_ids("broken")
    wait_for(lambda: any(w.problem for w in drill.queue.status().live), 30, "the problem to be reported")
    assert any("SHA-256" in line for line in status_lines(drill.queue.status()))
    run_id = drill.upload("bob", hw, STAFF)
    time.sleep(4)  # several beats and sweeps: the run must stay untouched
    run = drill.run(run_id)
    assert (run.status, run.deliveries) == ("queued", 0)
    labels.write_bytes(good)  # the operator repairs the cache: the worker resumes by itself
    drill.wait_done([run_id], 120)
    run = drill.run(run_id)
    assert (run.total_points, run.worker_id) == (6, broken)


# -- fair limits on a loaded host ---------------------------------------------------------------------


@contextlib.contextmanager
def cpu_hog(processes: int) -> Iterator[None]:
    """Busy loops on the host, outside any sandbox, for the duration."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for hog in hogs:
            hog.send_signal(signal.SIGKILL)
            hog.wait()


def test_a_cpu_hog_on_the_host_changes_neither_outcome_nor_metric(docker_engine: Engine, data_dir: Path) -> None:
    from sandbox import DockerRunner, DockerSettings

    owner = owner_id("pytest-drill-hog")
    runner = DockerRunner(DockerSettings(data_dir=data_dir, owner=owner), engine=docker_engine)
    idle = runner.run(RunRequest(STAFF, "q1", 0, Limits(cpu_s=60.0, wall_s=120.0)))
    assert idle.status == "ok", idle.detail
    # A budget just above what the model needs (its CPU time varies little from run to run).
    budget = Limits.for_cpu_s(round(idle.cpu_s * 1.4, 1))
    calm = runner.run(RunRequest(STAFF, "q1", 0, budget))
    with cpu_hog(processes=(os.cpu_count() or 1) * 2):
        busy = runner.run(RunRequest(STAFF, "q1", 0, budget))
        # For the record: the old rule (the same seconds as a wall-clock limit) on the same loaded host.
        old_rule = runner.run(RunRequest(STAFF, "q1", 0, Limits(cpu_s=600.0, wall_s=budget.cpu_s)))
    print(f"\nbudget {budget.cpu_s} s CPU: calm {calm.cpu_s:.2f} s CPU / {calm.wall_s:.2f} s wall; "
          f"busy {busy.cpu_s:.2f} s CPU / {busy.wall_s:.2f} s wall; old wall-only rule on the busy host: "
          f"{old_rule.status} after {old_rule.wall_s:.2f} s")
    assert calm.status == busy.status == "ok", (calm.detail, busy.detail)
    assert calm.observation is not None and busy.observation is not None
    calm_eval, busy_eval = calm.observation["final"]["evaluation"], busy.observation["final"]["evaluation"]
    assert calm_eval == busy_eval and calm.observation["epochs"] == busy.observation["epochs"]
    assert busy.cpu_s <= budget.cpu_s
    assert runner.reap_orphans(owner) == 0

