"""A worker's own health: is its MNIST cache intact, can it reach its engine, is the sandbox image built?

`DataGuard` verifies the whole cache (SHA-256 of every file) whenever the files change, and the quick
check otherwise; `GuardedRunner` asks it before every attempt that needs MNIST, so a worker with a broken
cache reports an infrastructure error (retried elsewhere) instead of a student's error. The worker's
liveness thread asks `worker_problem` on a timer and stops taking tasks while there is one.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from grader import mnist
from grader.protocol import HarnessStream, RunFacts, classify_run
from grader.questions import get_question
from grader.runs import ProgressCallback, Runner, RunOutcome, RunRequest

# What the kit raises when the data vanished under a running attempt (grader/kit/backend.py).
DATA_ERROR_TYPES = ("DataUnavailableError",)


class DataGuard:
    """The MNIST cache's verdict, fully re-verified whenever a file of it changes (size, mtime, inode)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self._signature: tuple[Any, ...] | None = None
        self._problem: str | None = None

    def problem(self, *, force: bool = False) -> str | None:
        """What is wrong with the cache, or None; hashes everything only when it changed (or `force`)."""
        with self._lock:
            signature = self._stat_signature()
            if force or signature != self._signature:
                self._problem = _linked_public_file(self.data_dir) or mnist.cache_status(
                    self.data_dir, verify_hashes=True)
                self._signature = signature
            return self._problem

    def _stat_signature(self) -> tuple[Any, ...]:
        entries: list[Any] = []
        for rel in (mnist.MANIFEST, *mnist.CACHE_FILES):
            try:
                st = (self.data_dir / rel).stat()
            except OSError:
                entries.append((rel, None))
                continue
            entries.append((rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev))
        return tuple(entries)


def _linked_public_file(data_dir: Path) -> str | None:
    """A sandbox mounts public/ alone: a symbolic link in it points at nothing there."""
    for rel in mnist.PUBLIC_FILES:
        if (data_dir / rel).is_symlink():
            return f"{data_dir / rel} is a symbolic link, which a sandbox cannot follow; copy the file instead"
    return None


class GuardedRunner:
    """A runner that refuses attempts needing MNIST while the worker's cache is broken (infrastructure_error)."""

    def __init__(self, inner: Runner, guard: DataGuard) -> None:
        self.inner = inner
        self.guard = guard
        self.name = inner.name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    def run(self, request: RunRequest, on_progress: ProgressCallback | None = None) -> RunOutcome:
        """Run one attempt unless the MNIST cache is broken; an attempt that failed on the data while the cache is
        broken becomes our fault (infrastructure_error), never the student's."""
        needs_data = get_question(request.question).needs_mnist
        if needs_data and (problem := self.guard.problem()) is not None:
            return self._refused(request, problem)
        outcome = self.inner.run(request, on_progress)
        if needs_data and _data_error(outcome) and (problem := self.guard.problem(force=True)) is not None:
            # The student's code saw the data go bad; our cache is to blame, not them.
            return self._refused(request, problem)
        return outcome

    def _refused(self, request: RunRequest, problem: str) -> RunOutcome:
        return classify_run(HarnessStream(), RunFacts(
            runner=self.inner.name, wall_s=0.0, exit_code=None,
            infrastructure_problem=f"This worker's MNIST cache is not usable: {problem}",
            cpu_limit_s=request.limits.cpu_s, wall_limit_s=request.limits.wall_s,
        ))


def _data_error(outcome: RunOutcome) -> bool:
    final = (outcome.observation or {}).get("final") or {}
    error = final.get("error") if isinstance(final, dict) else None
    return isinstance(error, dict) and error.get("type") in DATA_ERROR_TYPES


def runner_problem(runner: Any) -> str | None:
    """Why the runner cannot grade (engine unreachable, image not built), or None; runners without a check pass."""
    check = getattr(runner, "readiness_problem", None)
    if callable(check):
        problem = check()
        return str(problem) if problem is not None else None
    return None


def worker_problem(guard: DataGuard, runner: Any) -> str | None:
    """Everything that stops this worker from grading, in one sentence, or None."""
    problems = []
    data = guard.problem()
    if data is not None:
        problems.append(f"MNIST cache: {data}")
    engine = runner_problem(runner)
    if engine is not None:
        problems.append(engine)
    return "; ".join(problems) or None
