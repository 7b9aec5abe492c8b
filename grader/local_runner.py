"""The local runner: each attempt in a fresh child process on this machine.

It enforces the CPU-time budget through the harness (RLIMIT_CPU and the student's rusage), the wall-clock
backstop from outside (killing the process group), an address-space limit and an output cap, and sees
only the submission, the kit and the public data. It is not a security boundary: use it for development
and CI of the core, and the Docker runner for students' code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from grader.challenge import CopyError, write_new_copy
from grader.harness import bootstrap_command
from grader.mnist import MnistDataError, public_file_sizes
from grader.numerics import PINNED_NUMERICS_ENV, blas_thread_env
from grader.protocol import HarnessStream, RunFacts, build_job, classify_run
from grader.questions import copy_source
from grader.runs import ProgressCallback, RunOutcome, RunRequest

# The harness enforces the limit itself; the host kills only if the harness cannot.
HOST_GRACE_S = 10.0
CORE_ROOT = Path(__file__).resolve().parent.parent
# BLAS threads pinned so numbers do not depend on the machine's core count.
CHILD_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    **PINNED_NUMERICS_ENV,
    **blas_thread_env(1),
    "MPLBACKEND": "Agg",
}


class LocalRunner:
    name = "local"

    def __init__(self, data_dir: Path, python: str = sys.executable) -> None:
        self.public_data_dir = (data_dir / "public").resolve()
        self.python = python

    def run(self, request: RunRequest, on_progress: ProgressCallback | None = None) -> RunOutcome:
        with tempfile.TemporaryDirectory(prefix="nngrade-") as tmp:
            work = Path(tmp)
            submission_dir = work / "submission"
            scratch_dir = work / "scratch"
            submission_dir.mkdir()
            scratch_dir.mkdir()
            # Only models.py is visible: nothing else from the student's folder comes along.
            shutil.copyfile(request.submission, submission_dir / "models.py")
            # The integrity check's copy, removed with the rest of the attempt's directory.
            key, copy_file = None, None
            source = copy_source(request.question, request.split)
            if source is not None:
                challenge_dir = work / "challenge"
                challenge_dir.mkdir()
                try:
                    key, copy_path = write_new_copy(self.public_data_dir / source, challenge_dir)
                except CopyError as exc:
                    return classify_run(HarnessStream(on_progress), RunFacts(
                        runner=self.name, wall_s=0.0, exit_code=None, infrastructure_problem=str(exc),
                        cpu_limit_s=request.limits.cpu_s, wall_limit_s=request.limits.wall_s,
                    ))
                copy_file = str(copy_path)
            job = build_job(
                request,
                submission_dir=str(submission_dir),
                data_dir=str(self.public_data_dir),
                scratch_dir=str(scratch_dir),
                # No cgroup of its own here: the student's process, with RLIMIT_CPU behind it.
                cpu_clock="process",
                data_files=_public_sizes(self.public_data_dir.parent),
                copy_file=copy_file,
            )
            env = {**CHILD_ENV, "HOME": str(scratch_dir), "TMPDIR": str(scratch_dir)}
            return dataclasses.replace(self._supervise(request, job, env, scratch_dir, on_progress), copy_key=key)

    def _supervise(
        self, request: RunRequest, job: bytes, env: dict[str, str], cwd: Path,
        on_progress: ProgressCallback | None,
    ) -> RunOutcome:
        stream = HarnessStream(on_progress)
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                bootstrap_command(self.python, CORE_ROOT),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            return classify_run(stream, RunFacts(
                runner=self.name, wall_s=0.0, exit_code=None,
                infrastructure_problem=f"Could not start the grader process: {exc}",
                cpu_limit_s=request.limits.cpu_s, wall_limit_s=request.limits.wall_s,
            ))
        assert process.stdin and process.stdout and process.stderr
        process.stdin.write(job)
        process.stdin.close()
        stderr_tail = _Tail(process.stderr)
        timer = threading.Timer(request.limits.wall_s + HOST_GRACE_S, self._hard_kill, args=(process.pid, stream))
        timer.start()
        try:
            while chunk := process.stdout.read1(65536):  # type: ignore[attr-defined]  # a BufferedReader
                stream.feed(chunk)
                if stream.over_limit:
                    _kill_group(process.pid)
                    break
            stream.close()
            exit_code = process.wait()
        finally:
            timer.cancel()
            _kill_group(process.pid)
            if stream.child_pgid is not None:
                _kill_group(stream.child_pgid)
        stderr_tail.join()
        process.stdout.close()
        process.stderr.close()
        wall_s = time.monotonic() - started
        problem = None
        if exit_code == 2 and stream.token is None:
            problem = f"The grader could not start: {stderr_tail.text().strip()[-500:]}"
        return classify_run(stream, RunFacts(
            runner=self.name,
            wall_s=wall_s,
            exit_code=exit_code,
            timed_out=wall_s >= request.limits.wall_s + HOST_GRACE_S,
            infrastructure_problem=problem,
            cpu_limit_s=request.limits.cpu_s,
            wall_limit_s=request.limits.wall_s,
        ))


    @staticmethod
    def _hard_kill(pid: int, stream: HarnessStream) -> None:
        _kill_group(pid)
        if stream.child_pgid is not None:
            _kill_group(stream.child_pgid)


class _Tail(threading.Thread):
    """Keeps the last bytes of the harness's own stderr, for diagnosing the harness itself."""

    def __init__(self, pipe: IO[bytes], keep: int = 16 * 1024) -> None:
        super().__init__(daemon=True)
        self._pipe = pipe
        self._keep = keep
        self._data = bytearray()
        self.start()

    def run(self) -> None:
        while chunk := self._pipe.read(4096):
            self._data += chunk
            del self._data[:-self._keep]

    def text(self) -> str:
        return self._data.decode("utf-8", errors="replace")


def _public_sizes(data_dir: Path) -> dict[str, int] | None:
    """The manifest's sizes of the public MNIST files, or None without a cache (q1 needs none)."""
    try:
        return public_file_sizes(data_dir)
    except MnistDataError:
        return None


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
