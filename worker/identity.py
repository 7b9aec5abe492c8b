"""Who this worker is: a stable, unique id (node name, process id, start time) for its whole life.

The id labels every sandbox the worker starts (`nngrade.owner`), names it in `nngrade status`, and is
the key of its heartbeat in the gradebook. A restarted worker is a new identity: its predecessor's
sandboxes belong to a dead owner and are reaped.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

from celery.utils.nodenames import default_nodename, host_format

from sandbox.owner import owner_id


@dataclass(frozen=True)
class WorkerIdentity:
    """Who a worker process is: the id that labels its sandboxes and keys its heartbeat, its Celery node name, host,
    process id and start time."""

    id: str
    node: str  # the Celery node name, e.g. grader@host (what `celery inspect` and pings use)
    hostname: str
    pid: int
    started_at: datetime

    @classmethod
    def create(cls, node: str | None = None) -> WorkerIdentity:
        """The identity of this process, from the worker's --hostname (``%h`` expanded) or Celery's default."""
        started = datetime.now(UTC)
        name = host_format(node) if node else default_nodename(None)
        return cls(id=owner_id("worker", name, started), node=name, hostname=socket.gethostname(),
                   pid=os.getpid(), started_at=started)
