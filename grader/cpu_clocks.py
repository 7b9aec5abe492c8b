"""The CPU clocks the harness holds an attempt's budget to: the container's cgroup, or the student's process.

Standard library only: the harness (PID 1 of the sandbox) imports this before any student code runs.
"""

from __future__ import annotations

import os
from typing import Any

# The container's own cgroup (Docker mounts it at the root of these paths): v1 cpuacct, then v2.
CGROUP_V1_USAGE = ("/sys/fs/cgroup/cpuacct/cpuacct.usage", "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage")
CGROUP_V2_ROOT = "/sys/fs/cgroup"


class CpuClock:
    """CPU seconds used by the attempt: the container's cgroup, or the student's process (and children).

    `read` returns None when the clock cannot be read (then only RLIMIT_CPU and the wall clock hold).
    """

    def __init__(self, name: str, read: Any) -> None:
        self.name = name
        self._read = read

    def read(self) -> float | None:
        try:
            value: float | None = self._read()
        except (OSError, ValueError):
            return None
        return value


def cgroup_clock(root: str = "/") -> CpuClock | None:
    """The container's cgroup CPU usage (v1 ``cpuacct.usage`` in ns, v2 ``cpu.stat`` usage_usec); None if absent."""
    for path in CGROUP_V1_USAGE:
        full = os.path.join(root, path.lstrip("/"))
        if os.path.isfile(full):
            return CpuClock("cgroup", lambda full=full: _read_int(full) / 1e9)
    own = _cgroup_v2_path(os.path.join(root, "proc/self/cgroup"))
    if own is not None:
        stat = os.path.join(root, CGROUP_V2_ROOT.lstrip("/"), own.lstrip("/"), "cpu.stat")
        if os.path.isfile(stat):
            return CpuClock("cgroup", lambda: _cpu_stat_usage_s(stat))
    return None


def process_clock(pid: int) -> CpuClock:
    """The student's process: its own CPU time plus that of children it waited for (/proc, Linux)."""

    def read() -> float | None:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        fields = raw[raw.rfind(b")") + 2 :].split()
        # utime, stime, cutime, cstime: fields 14-17 of stat, in clock ticks.
        ticks = sum(int(v) for v in fields[11:15])
        return ticks / os.sysconf("SC_CLK_TCK")

    return CpuClock("process", read)


def _read_int(path: str) -> int:
    with open(path) as f:
        return int(f.read().strip())


def _cpu_stat_usage_s(path: str) -> float:
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
    raise ValueError(f"{path} has no usage_usec")


def _cgroup_v2_path(proc_cgroup: str) -> str | None:
    """The unified hierarchy's path from /proc/self/cgroup ("0::/path"); "/" inside a private namespace."""
    try:
        with open(proc_cgroup) as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip() or "/"
    except OSError:
        return None
    return None
