"""Typed limits of one sandboxed attempt, and how each becomes a container setting."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from grader.limits import Limits

MIB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits(Limits):
    """`grader.limits.Limits` plus what only a container enforces.

    memory_mb is memory+swap (no swap), cpus a CFS quota (nano_cpus), pids a cgroup cap including
    threads, scratch_mb the size of the noexec tmpfs at /tmp. The harness ends the student's code when
    the container's cgroup has used `cpu_s` of CPU time, or at the `wall_s` backstop; the host kills the
    container `kill_grace_s` after `wall_s` in case the harness cannot.
    """

    kill_grace_s: float = 5.0
    open_files: int = 1024

    def __post_init__(self) -> None:
        if not (self.wall_s > 0 and math.isfinite(self.wall_s)):
            raise ValueError(f"wall_s must be a positive number of seconds, got {self.wall_s}")
        if not (self.cpu_s > 0 and math.isfinite(self.cpu_s)):
            raise ValueError(f"cpu_s must be a positive number of seconds, got {self.cpu_s}")
        if self.memory_mb < 16:
            raise ValueError(f"memory_mb must be at least 16, got {self.memory_mb}")
        if not (0.01 <= self.cpus <= 64):
            raise ValueError(f"cpus must be between 0.01 and 64, got {self.cpus}")
        if self.pids < 8:
            raise ValueError(f"pids must be at least 8, got {self.pids}")
        if self.scratch_mb < 1 or self.output_bytes < 1024:
            raise ValueError("scratch_mb must be at least 1 and output_bytes at least 1024")

    @classmethod
    def from_limits(cls, limits: Limits) -> SandboxLimits:
        """Widen plain limits (as a RunRequest carries them) with the sandbox defaults."""
        if isinstance(limits, SandboxLimits):
            return limits
        return cls(**{f.name: getattr(limits, f.name) for f in fields(Limits)})

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * MIB

    @property
    def nano_cpus(self) -> int:
        return round(self.cpus * 1e9)

    @property
    def blas_threads(self) -> int:
        """One BLAS thread per whole CPU of the quota (at least one): more would only fight the quota."""
        return max(1, math.floor(self.cpus))

    @property
    def kill_after_s(self) -> float:
        return self.wall_s + self.kill_grace_s


DEFAULT_LIMITS = SandboxLimits()
