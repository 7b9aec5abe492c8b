"""A worker's life in the gradebook: register, beat, watch its own health and its own sandboxes.

Runs on a daemon thread in the worker's main process from start-up until the process ends (it is not
stopped with the other steps: during a warm shutdown running grades still need their owner alive). Each
beat refreshes the heartbeat and removes sandboxes of this worker's dead pool processes; every
`health_interval_s` the worker checks its MNIST cache, engine and image, records what is wrong, and
stops taking tasks while anything is (a worker that fails every task at once would otherwise attract
them all), resuming when it is healthy again. A task that slips through meanwhile is refused by the
runner's own data check and delayed, never charged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gradebook.db import transaction
from gradebook.workers import beat, register_worker
from worker.identity import WorkerIdentity
from worker.options import WorkerOptions

logger = logging.getLogger(__name__)


class Liveness:
    """The worker's registration, heartbeat and health in the gradebook, on a daemon thread for the process's life (see
    the module's docstring)."""

    def __init__(
        self,
        app: Any,
        identity: WorkerIdentity,
        sessions: sessionmaker[Session],
        options: WorkerOptions,
        *,
        queues: Sequence[str],
        concurrency: int,
        health: Callable[[], str | None],
        reap_own: Callable[[], int] | None,
    ) -> None:
        self.app = app
        self.identity = identity
        self.sessions = sessions
        self.options = options
        self.queues = tuple(queues)
        self.concurrency = concurrency
        self._health = health
        self._reap_own = reap_own
        self.problem: str | None = None
        self.paused = False
        self._consumer_ready = False
        self._registered = False
        self._next_health = 0.0
        self._thread = threading.Thread(target=self._loop, name="nngrade-liveness", daemon=True)

    def start(self) -> None:
        """Register and check health once before the first task can arrive, then beat in the background."""
        self.tick()
        self._thread.start()

    def tick(self) -> None:
        """One beat: health when due, heartbeat (registering first if needed), own dead sandboxes."""
        now = time.monotonic()
        if now >= self._next_health:
            self._next_health = now + self.options.health_interval_s
            self._check_health()
        try:
            with transaction(self.sessions) as session:
                if not self._registered or not beat(session, self.identity.id, self.problem):
                    register_worker(session, self.identity.id, hostname=self.identity.hostname,
                                    pid=self.identity.pid, started_at=self.identity.started_at,
                                    concurrency=self.concurrency, queues=self.queues)
                    beat(session, self.identity.id, self.problem)
            self._registered = True
        except SQLAlchemyError as exc:
            logger.warning("heartbeat not recorded (database unavailable): %s", exc)
        if self._reap_own is not None:
            self._reap_own()

    def _check_health(self) -> None:
        try:
            problem = self._health()
        except Exception as exc:  # a check that fails is itself a problem, not a reason to die
            problem = f"health check failed: {exc}"
        if problem != self.problem:
            if problem:
                logger.error("worker %s cannot grade: %s; not taking tasks until this is fixed",
                             self.identity.id, problem)
            else:
                logger.warning("worker %s is healthy again; taking tasks", self.identity.id)
        self.problem = problem
        self._set_paused(problem is not None)

    def consumer_ready(self, consumer: Any) -> None:
        """Called in the consumer's own thread once it consumes (Celery's worker_ready): apply the pause
        decided before then directly, since a control message sent before it listened was lost."""
        self._consumer_ready = True
        if self.problem is not None:
            for queue in self.queues:
                consumer.cancel_task_queue(queue)
            self.paused = True

    def _set_paused(self, paused: bool) -> None:
        if paused == self.paused or not self._consumer_ready:
            return
        destination = [self.identity.node]
        try:
            for queue in self.queues:
                if paused:
                    self.app.control.cancel_consumer(queue, destination=destination)
                else:
                    self.app.control.add_consumer(queue, destination=destination)
            self.paused = paused
        except Exception as exc:  # the broker is down: nothing is delivered either way
            logger.warning("cannot %s consuming: %s", "stop" if paused else "resume", exc)

    def _loop(self) -> None:
        while True:
            time.sleep(self.options.heartbeat_s)
            try:
                self.tick()
            except Exception:
                logger.exception("liveness beat failed")
