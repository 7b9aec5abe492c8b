"""The Redis side of the queue: publish a run's task, and look at what the broker holds.

Callers pass a configured Celery app; this module builds none, so the portal, the CLI and the worker's
sweep all publish the same way without importing each other.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from worker.options import BULK_QUEUE, QUEUES, STUDENT_QUEUE, TASK_NAME

logger = logging.getLogger(__name__)

TASK_ID_PREFIX = "run-"


def queue_for(purpose: str) -> str:
    """The queue a run's task goes to: student uploads first, everything else on the bulk queue."""
    return STUDENT_QUEUE if purpose == "submission" else BULK_QUEUE


def publish_run(app: Any, run_id: int, purpose: str) -> bool:
    """Send one grading task; False when the broker cannot be reached (the sweep will resend)."""
    try:
        app.send_task(TASK_NAME, args=(run_id,), queue=queue_for(purpose),
                      task_id=f"{TASK_ID_PREFIX}{run_id}-{uuid.uuid4().hex[:12]}")
    except Exception as exc:  # kombu/redis raise many types for an unreachable broker
        logger.warning("run %s not published (%s); the sweep will resend it", run_id, exc)
        return False
    return True


def run_ids_in_broker(app: Any) -> set[int] | None:
    """Run ids of tasks waiting in the queues or delivered but unacknowledged; None if Redis is unreachable."""
    found: set[int] = set()
    try:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            raw: list[Any] = []
            for queue in QUEUES:
                raw.extend(client.lrange(queue, 0, -1))
            raw.extend(json.loads(v)[0] for v in client.hvals("unacked"))
    except Exception as exc:
        logger.warning("cannot inspect the broker: %s", exc)
        return None
    for item in raw:
        message = json.loads(item) if isinstance(item, str | bytes) else item
        task_id = str(message.get("headers", {}).get("id", ""))
        if task_id.startswith(TASK_ID_PREFIX):
            number = task_id[len(TASK_ID_PREFIX):].split("-", 1)[0]
            if number.isdigit():
                found.add(int(number))
    return found


def broker_depths(app: Any) -> dict[str, int] | None:
    """Messages waiting per queue; None when Redis cannot be reached."""
    try:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            return {queue: int(client.llen(queue)) for queue in QUEUES}
    except Exception:
        return None
