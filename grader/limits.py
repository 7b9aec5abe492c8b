"""Resource limits for one question attempt, shared by every runner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

# When an assignment gives only a CPU-time budget, the wall-clock backstop is this many times longer (and
# at least a minute longer): an attempt held to one CPU that gets half of it on a loaded host still ends
# on its CPU time, so its outcome does not depend on what else the machine runs.
WALL_BACKSTOP_FACTOR = 2.0
WALL_BACKSTOP_MIN_EXTRA_S = 60.0


def wall_backstop_s(cpu_s: float) -> float:
    """The wall-clock backstop that goes with a CPU-time budget of `cpu_s` seconds."""
    return max(cpu_s * WALL_BACKSTOP_FACTOR, cpu_s + WALL_BACKSTOP_MIN_EXTRA_S)


@dataclass(frozen=True)
class Limits:
    """What one attempt may use. Runners enforce what their mechanism allows (see each runner).

    `cpu_s` is the time limit a student is held to: CPU seconds of the attempt, counted from the moment
    their code starts (the container's cgroup in Docker, the process's rusage in the local runner).
    `wall_s` is a backstop for code that waits instead of computing (sleeps, blocked reads).
    """

    wall_s: float = 600.0
    memory_mb: int = 2048
    output_bytes: int = 16 * 1024 * 1024
    cpus: float = 1.0
    pids: int = 256
    scratch_mb: int = 64
    cpu_s: float = 300.0

    def with_wall_s(self, wall_s: float) -> Limits:
        return replace(self, wall_s=wall_s)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Limits:
        """Limits from their stored form (`vars(limits)`); unknown keys, from other versions, are ignored."""
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def for_cpu_s(cls, cpu_s: float) -> Limits:
        """Default limits with a CPU-time budget and its wall-clock backstop (see `wall_backstop_s`)."""
        return cls(cpu_s=cpu_s, wall_s=wall_backstop_s(cpu_s))
