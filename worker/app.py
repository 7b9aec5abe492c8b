"""The Celery application: Redis broker, two queues (students first), late acks, one task per process."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, ClassVar

from celery import Celery, bootsteps, signals
from kombu.entity import Queue
from sqlalchemy.exc import SQLAlchemyError

from gradebook.db import make_engine, make_sessionmaker, transaction
from gradebook.workers import mark_stopped
from nngrade.settings import Settings
from sandbox import DockerRunner
from worker.context import build_plain_runner
from worker.health import DataGuard, worker_problem
from worker.identity import WorkerIdentity
from worker.liveness import Liveness
from worker.options import BULK_QUEUE, QUEUES, STUDENT_QUEUE, TASK_NAME, WorkerOptions
from worker.reaper import SandboxReaper
from worker.sweep import Sweeper
from worker.tasks import register_tasks

logger = logging.getLogger(__name__)


def make_celery(
    settings: Settings, options: WorkerOptions | None = None, identity: WorkerIdentity | None = None,
) -> Celery:
    """A configured app with the grading task registered; the sweep runs inside every worker.

    `identity` is given only where a worker runs (`run_worker`): it owns the sandboxes its processes start.
    """
    options = options or WorkerOptions()
    app = Celery("nngrade", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_queues=[_queue(STUDENT_QUEUE), _queue(BULK_QUEUE)],
        task_default_queue=STUDENT_QUEUE,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        # Fetch only when a process is free, so a regrade burst cannot sit in a worker's buffer.
        worker_disable_prefetch=True,
        worker_concurrency=max(1, settings.worker_concurrency),
        worker_max_tasks_per_child=200,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_enable_remote_control=True,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={
            "visibility_timeout": options.visibility_timeout_s,
            "queue_order_strategy": "priority",
            "unacked_restore_interval": max(1, int(min(10.0, options.visibility_timeout_s / 2))),
            "unacked_restore_throttle": 1,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
            "health_check_interval": 10,
        },
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": max(1, int(options.publish_timeout_s / 0.5)),
            "interval_start": 0.0,
            "interval_step": 0.5,
            "interval_max": 0.5,
        },
        broker_pool_limit=4,
    )
    app.nngrade_settings = settings
    app.nngrade_options = options
    app.nngrade_identity = identity
    app.nngrade_worker_id = identity.id if identity is not None else None
    register_tasks(app)
    app.steps["worker"].add(SweepStep)
    return app


class SweepStep(bootsteps.StartStopStep):  # type: ignore[misc]  # celery is untyped
    """In the worker's main process: its heartbeat and health (worker.liveness), and the database sweep
    with orphan reaping (worker.sweep), each on its own thread."""

    requires: ClassVar[set[str]] = {"celery.worker.components:Pool"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.sweeper: Sweeper | None = None

    def start(self, worker: Any) -> None:
        """Start the heartbeat and health thread and the sweep thread in the worker's main process."""
        app = worker.app
        settings: Settings = app.nngrade_settings
        options: WorkerOptions = app.nngrade_options
        identity: WorkerIdentity = app.nngrade_identity or WorkerIdentity.create(worker.hostname)
        engine = make_engine(settings.database_url)
        # Pool processes forked later must not touch this engine's connections.
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        sessions = make_sessionmaker(engine)
        runner = build_plain_runner(settings, options, owner=identity.id)
        guard = DataGuard(Path(settings.data_dir))
        reaper = None
        if isinstance(runner, DockerRunner):
            reaper = SandboxReaper(runner.engine, identity.id, sessions, options.lease_s, options.orphan_grace_s)
        queues = tuple(q.name for q in app.amqp.queues.consume_from.values())
        liveness = Liveness(app, identity, sessions, options, queues=queues, concurrency=worker.concurrency,
                            health=lambda: worker_problem(guard, runner),
                            reap_own=reaper.reap_own if reaper is not None else None)
        signals.worker_ready.connect(lambda sender, **_: liveness.consumer_ready(sender), weak=False)
        liveness.start()
        self.sweeper = Sweeper(app, sessions, options, reaper.reap_orphans if reaper is not None else None)
        self.sweeper.start()

    def stop(self, worker: Any) -> None:
        """Stop the sweep only: the heartbeat goes on while a warm shutdown finishes running grades."""
        if self.sweeper is not None:
            self.sweeper.stop()


def _queue(name: str) -> Any:
    return Queue(name, routing_key=name)  # type: ignore[no-untyped-call]


def worker_argv(
    settings: Settings,
    *,
    concurrency: int | None = None,
    queues: tuple[str, ...] = QUEUES,
    hostname: str | None = None,
    loglevel: str = "INFO",
) -> list[str]:
    """Celery's worker command line: prefork pool, the queues in priority order, no gossip or mingle."""
    argv = [
        "worker",
        f"--concurrency={concurrency or max(1, settings.worker_concurrency)}",
        f"--queues={','.join(queues)}",
        f"--loglevel={loglevel}",
        "--pool=prefork",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    return argv


def run_worker(
    settings: Settings, options: WorkerOptions | None = None, *, hostname: str | None = None, **kwargs: Any,
) -> None:
    """Start a worker in this process (blocks); `nngrade worker` and `python -m worker` call this."""
    identity = WorkerIdentity.create(hostname)
    app = make_celery(settings, options, identity)
    logger.info("worker identity %s", identity.id)
    try:
        app.worker_main(worker_argv(settings, hostname=identity.node, **kwargs))
    finally:
        _mark_stopped(settings, identity)


def _mark_stopped(settings: Settings, identity: WorkerIdentity) -> None:
    """After a clean stop nothing of ours runs any more: say so, so nobody waits for our lease."""
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            mark_stopped(session, identity.id)
    except SQLAlchemyError as exc:
        logger.warning("could not record the stop of %s: %s", identity.id, exc)
    finally:
        with contextlib.suppress(Exception):
            engine.dispose()


__all__ = ["TASK_NAME", "make_celery", "run_worker"]
