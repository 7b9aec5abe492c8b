"""Sandboxes are removed only when their owner cannot finish them; a worker's own health and data check.

Pure tests of the verdicts, then the reaper against the real engine and a real database: a live
sibling's sandbox survives, a dead worker's and a dead pool process's do not.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from gradebook import workers
from gradebook.db import make_engine, make_sessionmaker, migrate, transaction
from grader import mnist
from grader.limits import Limits
from grader.runs import RunRequest
from sandbox.engine import OWNER_LABEL, PROCESS_LABEL, SANDBOX_LABEL, ContainerInfo, Engine
from sandbox.owner import owner_id, process_stamp, stamp_alive
from worker.health import DataGuard, GuardedRunner
from worker.reaper import SandboxReaper, judge

REPO = Path(__file__).resolve().parent.parent
STAFF = REPO / "reference_solutions" / "staff" / "models.py"
ME = "worker@a/1/t0"


def box(owner: str, age_s: float = 10.0, stamp: str = "") -> ContainerInfo:
    labels = {SANDBOX_LABEL: "1", OWNER_LABEL: owner}
    if stamp:
        labels[PROCESS_LABEL] = stamp
    return ContainerInfo(id=f"{owner}-{age_s}-{stamp}", labels=labels, created_s=1000.0 - age_s, running=True)


def state(worker_id: str, alive: bool) -> workers.WorkerState:
    return workers.WorkerState(id=worker_id, hostname="h", started_at=datetime.now(UTC), heartbeat_age_s=1.0,
                               alive=alive, concurrency=1, problem=None)


def test_only_sandboxes_nobody_can_finish_are_condemned() -> None:
    containers = [
        box(ME, stamp="11:1"),  # ours, its process alive
        box(ME, stamp="12:1"),  # ours, its process dead
        box("worker@b/2/t0"),  # a live sibling's
        box("worker@c/3/t0"),  # a dead worker's
        box("cli@d/4/t0"),  # unknown owner, young
        box("cli@d/4/t0", age_s=5000),  # unknown owner, older than any attempt
        box("worker@b/2/t0", age_s=5000),  # even a live owner's, when impossibly old
    ]
    states = {"worker@b/2/t0": state("worker@b/2/t0", True), "worker@c/3/t0": state("worker@c/3/t0", False)}
    verdicts = judge(containers, ME, states, now_s=1000.0, max_age_s=2000.0, process_alive=lambda s: s == "11:1")
    condemned = {v.container.id for v in verdicts}
    assert condemned == {containers[1].id, containers[3].id, containers[5].id, containers[6].id}


def test_process_stamps_tell_dead_pool_processes_from_live_ones() -> None:
    mine = process_stamp()
    assert stamp_alive(mine)
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(0,))
    child.start()
    child.join()
    assert not stamp_alive(process_stamp(child.pid or 0)) and not stamp_alive(f"{child.pid}:1")
    pid, _, ticks = mine.partition(":")
    assert not stamp_alive(f"{pid}:{int(ticks) + 1}")  # the same pid, another process (reused pid)
    assert stamp_alive("not-a-stamp")  # not ours to judge
    first, second = owner_id("worker"), owner_id("worker")
    assert first != second and first.startswith("worker@") and f"/{os.getpid()}/" in first


# -- the data check ---------------------------------------------------------------------------------


class CountingRunner:
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def run(self, request: RunRequest, on_progress: object = None) -> object:
        self.calls += 1
        raise AssertionError("must not run with a broken cache")


@pytest.mark.mnist
def test_the_data_guard_verifies_hashes_when_files_change(tmp_path: Path, data_dir: Path) -> None:
    cache = tmp_path / "data"
    shutil.copytree(data_dir, cache, ignore=shutil.ignore_patterns(".lock", ".build-*"))
    guard = DataGuard(cache)
    assert guard.problem() is None
    labels = cache / mnist.DEV_LABELS
    data = bytearray(labels.read_bytes())
    data[-1] ^= 1  # one flipped bit: same size, same header
    labels.write_bytes(bytes(data))
    assert "SHA-256" in (guard.problem() or "")
    inner = CountingRunner()
    runner = GuardedRunner(inner, guard)  # type: ignore[arg-type]
    run = runner.run(RunRequest(STAFF, "q2", 0, Limits()))
    assert run.status == "infrastructure_error" and "MNIST cache is not usable" in run.detail
    assert inner.calls == 0 and runner.name == "counting"


def test_the_data_guard_refuses_links_a_sandbox_cannot_follow(tmp_path: Path, data_dir: Path) -> None:
    cache = tmp_path / "data"
    shutil.copytree(data_dir, cache, ignore=shutil.ignore_patterns(".lock", ".build-*", "train_images.npy"))
    (cache / mnist.TRAIN_IMAGES).symlink_to(data_dir / mnist.TRAIN_IMAGES)
    assert "symbolic link" in (DataGuard(cache).problem() or "")


# -- against the real engine and database -----------------------------------------------------------


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[object]:
    url = f"sqlite:///{tmp_path / 'gradebook.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.mark.docker
def test_the_reaper_spares_live_siblings_and_removes_the_dead(
    docker_engine: Engine, tmp_path: Path, sessions: object, data_dir: Path
) -> None:
    from sandbox import DockerRunner, DockerSettings

    live, dead = owner_id("worker", "live@test"), owner_id("worker", "dead@test")
    with transaction(sessions) as s:  # type: ignore[arg-type]
        for worker_id in (live, dead, ME):
            workers.register_worker(s, worker_id, hostname="h", pid=1, started_at=datetime.now(UTC),
                                    concurrency=1, queues=("student",))
        s.execute(update(workers.Worker).where(workers.Worker.id == dead)
                  .values(heartbeat_at=workers.db_now(s).replace(year=2000)))
    tmp_path.chmod(0o755)
    runner = DockerRunner(DockerSettings(data_dir=data_dir, owner=ME), engine=docker_engine)
    spec = runner._spec(runner_limits(), tmp_path)
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(0,))
    child.start()
    child.join()
    created = {
        "sibling": docker_engine.create(dataclasses.replace(spec, labels={SANDBOX_LABEL: "1", OWNER_LABEL: live})),
        "dead worker": docker_engine.create(dataclasses.replace(spec, labels={SANDBOX_LABEL: "1",
                                                                              OWNER_LABEL: dead})),
        "stranger": docker_engine.create(dataclasses.replace(spec, labels={SANDBOX_LABEL: "1",
                                                                           OWNER_LABEL: "cli@x/1/t"})),
        "my live process": docker_engine.create(spec),
        "my dead process": docker_engine.create(dataclasses.replace(
            spec, labels={SANDBOX_LABEL: "1", OWNER_LABEL: ME, PROCESS_LABEL: process_stamp(child.pid or 0)})),
    }
    try:
        reaper = SandboxReaper(lambda: docker_engine, ME, sessions, lease_s=60, grace_s=600)  # type: ignore[arg-type]
        assert reaper.reap_own() == 1
        assert reaper.reap_orphans() == 1
        left = {c.id for c in docker_engine.containers_info({SANDBOX_LABEL: "1"})}
        assert {name for name, cid in created.items() if cid in left} == {"sibling", "stranger", "my live process"}
    finally:
        for cid in created.values():
            docker_engine.remove(cid)


def runner_limits() -> object:
    from sandbox.limits import SandboxLimits

    return SandboxLimits()
