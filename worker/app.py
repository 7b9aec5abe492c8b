"""The Celery application: Redis broker, two queues (students first), late acks, one task per process."""

from __future__ import annotations

from typing import Any, ClassVar

from celery import Celery, bootsteps
from kombu.entity import Queue

from nngrade.settings import Settings
from worker.options import BULK_QUEUE, QUEUES, STUDENT_QUEUE, TASK_NAME, WorkerOptions
from worker.sweep import Sweeper
from worker.tasks import register_tasks


def make_celery(settings: Settings, options: WorkerOptions | None = None) -> Celery:
    """A configured app with the grading task registered; the sweep runs inside every worker."""
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
    register_tasks(app)
    app.steps["worker"].add(SweepStep)
    return app


class SweepStep(bootsteps.StartStopStep):  # type: ignore[misc]  # celery is untyped
    """Runs the database sweep on a timer thread in the worker's main process."""

    requires: ClassVar[set[str]] = {"celery.worker.components:Pool"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.sweeper: Any = None

    def start(self, worker: Any) -> None:
        app = worker.app
        self.sweeper = Sweeper(app, app.nngrade_settings, app.nngrade_options)
        self.sweeper.reap_orphans()
        self.sweeper.start()

    def stop(self, worker: Any) -> None:
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


def run_worker(settings: Settings, options: WorkerOptions | None = None, **kwargs: Any) -> None:
    """Start a worker in this process (blocks); `nngrade worker` and `python -m worker` call this."""
    app = make_celery(settings, options)
    app.worker_main(worker_argv(settings, **kwargs))


__all__ = ["TASK_NAME", "make_celery", "run_worker"]
