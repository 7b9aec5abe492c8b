"""Which sandbox containers nobody will finish, and removing exactly those.

Several workers (and `nngrade grade`) share one engine, so a sandbox is removed only when its owner can
no longer finish it:
- ours, whose pool process is gone (killed mid-grade): at once, by this worker;
- a registered worker's whose heartbeat stopped (or which stopped cleanly): by any worker;
- anyone's that is older than the longest wall-clock backstop plus a grace period: by any worker (an
  owner we do not know, such as a `nngrade grade` process, is judged by age only).
A live sibling's sandbox is never touched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gradebook.assignments import grading_config
from gradebook.db import transaction
from gradebook.models import Assignment
from gradebook.workers import WorkerState, worker_states
from grader.config import AssignmentConfig
from sandbox.engine import OWNER_LABEL, PROCESS_LABEL, ContainerInfo, Engine, EngineError
from sandbox.limits import SandboxLimits
from sandbox.owner import stamp_alive
from sandbox.runner import list_sandboxes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """A sandbox container to remove, and why."""

    container: ContainerInfo
    why: str


def judge(
    containers: list[ContainerInfo],
    me: str,
    states: Mapping[str, WorkerState],
    now_s: float,
    max_age_s: float,
    process_alive: Callable[[str], bool] = stamp_alive,
) -> list[Verdict]:
    """The containers to remove and why (pure: the caller lists, looks up and removes)."""
    out = []
    for container in containers:
        owner = container.labels.get(OWNER_LABEL, "")
        age_s = now_s - container.created_s
        if owner == me:
            stamp = container.labels.get(PROCESS_LABEL, "")
            if stamp and not process_alive(stamp):
                out.append(Verdict(container, f"its grading process {stamp} is gone"))
                continue
        elif owner in states and not states[owner].alive:
            out.append(Verdict(container, f"its worker {owner} is no longer alive"))
            continue
        if age_s > max_age_s:
            out.append(Verdict(container, f"it is {age_s:.0f} s old, longer than any attempt may last"))
    return out


def max_sandbox_age_s(session: Session, grace_s: float) -> float:
    """The longest any attempt may legitimately run (the largest wall backstop, plus the host's kill grace),
    over every assignment and the built-in defaults, plus `grace_s`."""
    configs = [grading_config(a) for a in session.scalars(select(Assignment))]
    configs.append(AssignmentConfig())
    longest = max(
        (c.limits_for(q).wall_s for c in configs for q in (*c.questions, "unknown")), default=0.0
    )
    return longest + SandboxLimits().kill_grace_s + grace_s


class SandboxReaper:
    """Lists this engine's sandboxes and removes those `judge` condemns; never raises for an engine fault."""

    def __init__(
        self, engine: Callable[[], Engine], me: str, sessions: sessionmaker[Session], lease_s: float, grace_s: float,
    ) -> None:
        self._engine = engine
        self.me = me
        self.sessions = sessions
        self.lease_s = lease_s
        self.grace_s = grace_s

    def reap_own(self) -> int:
        """Remove this worker's sandboxes whose grading process died; no database needed."""
        try:
            engine = self._engine()
            containers = [c for c in list_sandboxes(engine) if c.labels.get(OWNER_LABEL) == self.me]
            verdicts = judge(containers, self.me, {}, time.time(), float("inf"))
            return self._remove(engine, verdicts)
        except EngineError as exc:
            logger.warning("cannot check this worker's sandboxes: %s", exc)
            return 0

    def reap_orphans(self) -> int:
        """Remove every sandbox on the engine whose owner cannot finish it (see the module docstring)."""
        try:
            engine = self._engine()
            containers = list_sandboxes(engine)
            if not containers:
                return 0
            owners = {c.labels.get(OWNER_LABEL, "") for c in containers}
            with transaction(self.sessions) as session:
                states = worker_states(session, self.lease_s, owners)
                max_age_s = max_sandbox_age_s(session, self.grace_s)
            return self._remove(engine, judge(containers, self.me, states, time.time(), max_age_s))
        except EngineError as exc:
            logger.warning("orphan reaping skipped: %s", exc)
            return 0

    def _remove(self, engine: Engine, verdicts: list[Verdict]) -> int:
        removed = 0
        for verdict in verdicts:
            logger.warning("removing sandbox %s: %s", verdict.container.id[:12], verdict.why)
            try:
                engine.remove(verdict.container.id)
                removed += 1
            except EngineError as exc:
                logger.warning("could not remove sandbox %s: %s", verdict.container.id[:12], exc)
        return removed
