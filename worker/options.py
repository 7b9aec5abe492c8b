"""Queue tuning that is not per-installation configuration: timeouts, leases, sweep cadence.

Defaults suit production; tests shorten them. The entry point builds one and passes it down.
"""

from __future__ import annotations

from dataclasses import dataclass

STUDENT_QUEUE = "student"
BULK_QUEUE = "bulk"
# Consumed in this order: a free worker always takes a waiting student submission before a regrade.
QUEUES: tuple[str, ...] = (STUDENT_QUEUE, BULK_QUEUE)
TASK_NAME = "nngrade.grade_run"


@dataclass(frozen=True)
class WorkerOptions:
    """Queue tuning given to `nngrade worker` as flags; every time is in seconds."""

    # Redis hands an unacknowledged task to another worker after this long; longer than any grade.
    visibility_timeout_s: float = 2 * 3600.0
    # A claim whose heartbeat is older than this belongs to a dead worker and may be taken over.
    lease_s: float = 60.0
    heartbeat_s: float = 10.0
    # How often the worker compares the database with the broker and resends what is missing.
    sweep_interval_s: float = 30.0
    # A queued run is only resent when it has been missing from the broker for this long.
    queued_grace_s: float = 60.0
    # Infrastructure faults: exponential backoff between these bounds.
    retry_base_s: float = 15.0
    retry_cap_s: float = 600.0
    # "module:callable" taking the data directory and returning a grader.runs.Runner; None: the sandbox's.
    runner_factory: str | None = None
    # Seconds a publish may keep retrying while Redis is unreachable before giving up to the sweep.
    publish_timeout_s: float = 2.0
    # A run whose grading fails unexpectedly (an exception of ours, its worker dying) this often is marked
    # failed and waits for staff (`nngrade retry`) instead of looping.
    max_failures: float = 5
    # A sandbox whose owner is unknown (a `nngrade grade` process, an older version) is removed only when it
    # is older than the longest wall-clock backstop of any assignment plus this.
    orphan_grace_s: float = 600.0
    # How often the worker checks its own health (MNIST cache, engine, image) and stops or resumes taking
    # tasks accordingly.
    health_interval_s: float = 30.0
