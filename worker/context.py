"""Per-process resources of a worker: a database engine and a runner, created after the fork."""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gradebook.db import make_engine, make_sessionmaker
from grader.runs import Runner
from nngrade.settings import Settings
from sandbox import make_runner
from worker.health import DataGuard, GuardedRunner
from worker.options import WorkerOptions

logger = logging.getLogger(__name__)


class ProcessContext:
    """Lazily built resources, rebuilt when the process id changes (a forked pool child).

    `worker_id` is the worker's identity (None in processes that only publish): it owns the sandboxes
    the runner starts and is recorded on the runs it claims.
    """

    def __init__(self, settings: Settings, options: WorkerOptions, worker_id: str | None = None) -> None:
        self.settings = settings
        self.options = options
        self.worker_id = worker_id
        self._pid = -1
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._runner: Runner | None = None

    def _check_pid(self) -> None:
        pid = os.getpid()
        if pid != self._pid:
            if self._engine is not None:
                # The parent's connections must not be closed (or used) from the child.
                self._engine.dispose(close=False)
            self._engine = None
            self._sessions = None
            self._runner = None
            self._pid = pid

    @property
    def sessions(self) -> sessionmaker[Session]:
        """This process's session factory, created on first use after a fork."""
        with self._lock:
            self._check_pid()
            if self._sessions is None:
                self._engine = make_engine(self.settings.database_url)
                self._sessions = make_sessionmaker(self._engine)
            return self._sessions

    @property
    def runner(self) -> Runner:
        """This process's runner (the Docker sandbox, or the one WorkerOptions.runner_factory names), guarded by the
        MNIST check and created on first use after a fork."""
        with self._lock:
            self._check_pid()
            if self._runner is None:
                self._runner = build_runner(self.settings, self.options, owner=self.worker_id)
            return self._runner

    def dispose(self) -> None:
        """Close this process's database connections."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None
            self._sessions = None


def build_runner(settings: Settings, options: WorkerOptions, owner: str | None = None) -> Runner:
    """The configured runner (a named factory for tests and custom back-ends, else the sandbox's), behind
    this process's MNIST check; `owner` labels its sandboxes."""
    return GuardedRunner(build_plain_runner(settings, options, owner), DataGuard(Path(settings.data_dir)))


def build_plain_runner(settings: Settings, options: WorkerOptions, owner: str | None = None) -> Runner:
    """The configured runner without the data check (the worker's health check uses it for the engine)."""
    data_dir = Path(settings.data_dir)
    if options.runner_factory:
        module_name, _, attr = options.runner_factory.partition(":")
        factory: Callable[[Path], Runner] = getattr(importlib.import_module(module_name), attr)
        return factory(data_dir)
    # A service never falls back to running student code unisolated: "auto" means Docker here, and an
    # engine that is down or an image that is stale shows up as a delayed run, retried.
    kind = "docker" if settings.runner == "auto" else settings.runner
    runner: Runner = make_runner(kind, data_dir, owner=owner)
    return runner
