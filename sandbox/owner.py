"""Who owns a sandbox container: an owner id per long-lived process and a stamp per OS process.

The owner id (hostname, process id and start time) goes on every container a process starts, so a
reaper can ask whether the owner is still alive instead of removing everything with our label. The
process stamp ("<pid>:<start ticks>") lets the owner itself tell its live pool processes from dead ones:
a pid alone may be reused, a pid with its start time in clock ticks may not.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime


def owner_id(kind: str, node: str | None = None, started_at: datetime | None = None) -> str:
    """A stable, unique id for this process: ``<node>/<pid>/<start time, UTC>``.

    `kind` names the process when no node name is given (``worker@host``, ``cli@host``).
    """
    node = node or f"{kind}@{socket.gethostname()}"
    started = (started_at or datetime.now(UTC)).astimezone(UTC)
    return f"{node}/{os.getpid()}/{started:%Y%m%dT%H%M%S.%f}Z"


def process_stamp(pid: int | None = None) -> str:
    """``<pid>:<start ticks>`` of a process (this one by default); ``<pid>:0`` where /proc is missing."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_start_ticks(pid) or 0}"


def stamp_alive(stamp: str) -> bool:
    """Whether the process a stamp names is still running on this machine (same pid namespace).

    A malformed stamp is treated as alive: it is not ours to judge, and a wrong removal kills a grade.
    """
    pid_text, _, ticks_text = stamp.partition(":")
    if not pid_text.isdigit() or not ticks_text.isdigit():
        return True
    pid, ticks = int(pid_text), int(ticks_text)
    current = _start_ticks(pid)
    if current is not None:
        return ticks in (0, current)
    if os.path.exists("/proc/self/stat"):
        return False  # /proc works and has no such process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time since boot, in clock ticks); None when unavailable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None
