"""Gunicorn settings for the portal (`--config python:web.gunicorn_conf`: `nngrade serve` and the tests).

A gthread worker's own SIGQUIT handler (gunicorn 27.0.1) shuts its thread pool down from inside the signal
handler. When the signal lands while the worker's main thread is submitting a request to that pool, it holds
the pool's lock, and the handler waits on that lock forever: the worker hangs until the master's graceful
timeout kills it ("Worker ... was sent SIGKILL!"), and Ctrl-C on `make serve` ended in an error after 20 s.
Our workers therefore treat SIGQUIT, and the terminal's SIGINT, as SIGTERM: the handler only clears the
worker's `alive` flag, and the worker's loop stops accepting, finishes the requests in flight and shuts
its pool down outside any signal handler, within a second when idle.
"""

from __future__ import annotations

import signal
from typing import Any

# gunicornc's control socket is not used, and its default path is shared by every gunicorn of the machine.
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """Gunicorn's hook, run in each worker after it has set its own signal handlers."""
    for number in (signal.SIGQUIT, signal.SIGINT):
        signal.signal(number, worker.handle_exit)
