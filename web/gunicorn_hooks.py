"""Gunicorn settings module for `nngrade serve` (`--config python:web.gunicorn_hooks`).

Ctrl-C in a terminal sends SIGINT to the whole foreground process group: the master, which then tells each
worker to quit, and every worker too. A gthread worker that gets both signals can enter its quit handler a
second time while the first is shutting its thread pool down, and then waits on itself until the master's
graceful timeout kills it (gunicorn 27.0.1). Workers therefore ignore SIGINT: the master alone decides when
they stop, by the signals it sends them.
"""

from __future__ import annotations

import signal
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Gunicorn's hook, run in each worker after it has set its own signal handlers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
