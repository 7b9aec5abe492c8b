"""The harness: runs one question attempt of one submission and reports one JSON result.

It is the first process of a sandbox (PID 1 in a container). It reads a job from stdin, forks the
student's process (see `grader.attempt`) and watches it: student output goes to a capped log, findings
come back over a private pipe, and the harness alone writes to stdout, as JSON lines declared in
`grader.wire` and stamped with its protocol version:
    {"type": "hello", "token": ...}, {"type": "progress", ...}*, {"type": "result", ...}
The token is drawn after the fork, so the student's process never holds it; lines without it are forged.
This module imports only the standard library: the student's process imports numpy, not the harness.

Before the student's code runs, the child checks the kit and the data and says "student" on the private
pipe. Anything that fails before that word is the grader's fault (`harness_fault` in the result), never
the student's; after it, a harness-fault message is tampering. The CPU-time budget counts from that word
too, on the container's cgroup (``cgroup`` clock) or on the student's process (``process`` clock, with
RLIMIT_CPU); the job's `wall_s` is only a backstop for code that waits instead of computing.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import os
import platform
import resource
import secrets
import select
import signal
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader import wire
from grader.cpu_clocks import CpuClock, cgroup_clock, process_clock
from grader.findings import Findings, LogCapture
from grader.numerics import NUMPY_FEATURE_WARNING

MAX_JOB_BYTES = 64 * 1024
PROGRESS_FORWARD_INTERVAL_S = 0.5
# Address space is a coarse limit (numpy maps the dataset); the cgroup enforces the real memory cap.
ADDRESS_SPACE_SLACK_MB = 1024
PR_SET_DUMPABLE = 4
IGNORED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
# Predicting the integrity check's copy is ours, not the student's: once the graded prediction is in, the
# CPU-time budget and the wall clock both allow this much more (the copy costs what the graded images did,
# a few seconds at most; fixed, so a forged "evaluated" cannot buy a submission more than this).
COPY_ALLOWANCE_S = 30.0
# A student's process that ignores SIGXCPU gets SIGKILL this much later (process clock only).
RLIMIT_CPU_HARD_GRACE_S = 2


class JobError(ValueError):
    """The job cannot be run: not JSON, not a job, or not of this protocol version."""


def bootstrap_command(python: str, root: Path) -> list[str]:
    """Command line that starts the harness in isolated mode (no PYTHONPATH, no user site)."""
    code = f"import sys; sys.path.insert(0, {str(root)!r}); from grader.harness import main; sys.exit(main())"
    return [python, "-I", "-c", code]


def parse_job(raw: bytes) -> dict[str, Any]:
    """The job from the host (declared in `grader.wire`); `JobError` says what is wrong with it.

    A job of another protocol version is refused too: the host and this image come from different checkouts.
    """
    if len(raw) > MAX_JOB_BYTES:
        raise JobError("job is too large")
    try:
        job = json.loads(raw)
        if isinstance(job, dict):
            # Which held-out images q2 predicts; a job that does not say is graded on the test images.
            job.setdefault("split", "test")
        return wire.validate("job", job)
    except ValueError as exc:  # WireError is one, and so is JSON that does not parse
        raise JobError(str(exc)) from exc


def main() -> int:
    try:
        job = parse_job(sys.stdin.buffer.read(MAX_JOB_BYTES + 1))
    except (JobError, ValueError) as exc:
        sys.stderr.write(f"nngrade harness: bad job: {exc}\n")
        return 2
    _set_dumpable(False)
    go_r, go_w = os.pipe()
    log_r, log_w = os.pipe()
    findings_r, findings_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _run_child(job, go_r, log_w, findings_w, close=(go_w, log_r, findings_r))
    # Student code shares our uid: a stray signal must not end the only process that reports.
    for number in IGNORED_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    os.close(go_r)
    os.close(log_w)
    os.close(findings_w)
    with contextlib.suppress(OSError):  # the child already did it, or is gone
        os.setpgid(pid, pid)
    token = secrets.token_hex(16)
    # The child's process group lets the host clean up even if this supervisor is stopped.
    _emit("hello", {
        "token": token, "question": job["question"], "seed": job["seed"], "child_pgid": pid,
        "python": platform.python_version(), "numpy": _numpy_version(),
    })
    started = time.monotonic()
    os.write(go_w, b"g")
    os.close(go_w)
    outcome = _watch(job, pid, log_r, findings_r, token, started)
    _emit("result", outcome)
    return 0


def _watch(job: Mapping[str, Any], pid: int, log_r: int, findings_r: int, token: str, started: float) -> dict[str, Any]:
    log = LogCapture()
    findings = Findings()
    deadline = started + float(job["wall_s"])
    cpu_budget_s = job.get("cpu_s")
    clock = _clock_for(job, pid)
    cpu_mark: float | None = None  # the clock's reading when the student's code started
    copy_allowed = False
    terminated: str | None = None
    status: tuple[int, Any] | None = None
    last_forward = 0.0
    open_fds = {log_r, findings_r}
    while status is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            terminated = "timeout"
            break
        ready, _, _ = select.select(list(open_fds), [], [], min(remaining, 0.2))
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
            elif fd == log_r:
                log.add(chunk)
            else:
                findings.add(chunk)
        if findings.student_started and cpu_mark is None:
            cpu_mark = clock.read() if clock is not None else None
            if cpu_mark is None:
                clock = None  # unreadable: RLIMIT_CPU (process clock) and the wall clock still hold
        if findings.evaluation is not None and not copy_allowed:
            # The graded prediction is in; predicting the copy is on our time (COPY_ALLOWANCE_S).
            copy_allowed = True
            deadline = max(deadline, time.monotonic() + COPY_ALLOWANCE_S)
            used = clock.read() if clock is not None else None
            if cpu_budget_s is not None and used is not None and cpu_mark is not None:
                cpu_budget_s = max(float(cpu_budget_s), used - cpu_mark + COPY_ALLOWANCE_S)
        if log.total > job["output_bytes"]:
            terminated = "output_limit"
            break
        if findings.violation is not None:
            terminated = "protocol_violation"
            break
        if cpu_budget_s is not None and clock is not None and cpu_mark is not None:
            used = clock.read()
            if used is not None and used - cpu_mark >= cpu_budget_s:
                terminated = "cpu_limit"
                break
        now = time.monotonic()
        if findings.pending_progress and now - last_forward >= PROGRESS_FORWARD_INTERVAL_S:
            last_forward = now
            _forward_progress(findings, token)
        status = _reap(pid)
    if terminated is not None:
        _kill_group(pid)
        status = _wait_for(pid)
    else:
        # Take what the child wrote just before exiting.
        _drain(log_r, log, findings, open_fds)
        _kill_group(pid)
    wall_s = time.monotonic() - started
    _forward_progress(findings, token)
    code, usage = status if status is not None else (0, None)
    process_cpu_s = round(usage.ru_utime + usage.ru_stime, 4) if usage else 0.0
    # What the budget counted: CPU time since the student's first line.
    cpu_s = process_cpu_s
    if clock is not None and cpu_mark is not None:
        end = clock.read() if clock.name == "cgroup" else process_cpu_s
        if end is not None:
            cpu_s = round(max(0.0, end - cpu_mark), 4)
    if terminated is None and cpu_budget_s is not None and _over_rlimit_cpu(code, process_cpu_s, cpu_budget_s):
        terminated = "cpu_limit"
    harness_fault = findings.harness_fault
    if harness_fault is None and not findings.student_started:
        # The child never reached the student's code: whatever stopped it was ours (or the machine's).
        harness_fault = {"stage": "setup", "message": _setup_failure(code, terminated)}
    return {
        "token": token,
        "question": job["question"],
        "seed": job["seed"],
        "final": findings.final,
        # Without a final message, the graded prediction sent before the copy was predicted (the grade stands).
        "evaluated": findings.evaluation if findings.final is None else None,
        "sanity_passed": findings.sanity_passed,
        "trained": findings.trained,
        "stage": findings.stage,
        "loss_node": findings.loss_node,
        "epochs": findings.epochs,
        "validation_accuracy": findings.validation_accuracy,
        "warnings": findings.warnings,
        "terminated": terminated,
        "violation": findings.violation,
        "harness_fault": harness_fault,
        "exit": _exit_fields(code),
        "log": {"excerpt": log.excerpt(), "bytes": log.total},
        "rusage": {
            "cpu_s": cpu_s,
            "peak_memory_mb": round(usage.ru_maxrss / 1024, 2) if usage else 0.0,
        },
        "cpu_clock": clock.name if clock is not None else "none",
        "wall_s": round(wall_s, 4),
    }


def _clock_for(job: Mapping[str, Any], pid: int) -> CpuClock | None:
    if job.get("cpu_clock") == "cgroup":
        return cgroup_clock()
    if os.path.isdir(f"/proc/{pid}"):
        return process_clock(pid)
    return None


def _over_rlimit_cpu(code: int, cpu_s: float, budget_s: float) -> bool:
    """The kernel ended the student's process for its CPU time (SIGXCPU, or SIGKILL at the hard limit)."""
    if not os.WIFSIGNALED(code):
        return False
    sig = os.WTERMSIG(code)
    return sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_s >= budget_s)


def _setup_failure(code: int, terminated: str | None) -> str:
    if terminated == "timeout":
        return "the grader did not finish preparing the attempt within the wall-clock limit"
    fields = _exit_fields(code)
    how = f"signal {fields['signal']}" if fields["signal"] is not None else f"exit status {fields['code']}"
    return f"the grader's process ended ({how}) before it started the submission's code"


def _numpy_version() -> str:
    """Read from the installed metadata: importing numpy here would slow every attempt down."""
    try:
        return importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _forward_progress(findings: Findings, token: str) -> None:
    # Only the latest epoch matters to a watcher; validation points are all kept.
    latest_epoch = None
    for event in findings.pending_progress:
        if event["event"] == "epoch":
            latest_epoch = event
        else:
            _emit("progress", {"token": token, **event})
    if latest_epoch is not None:
        _emit("progress", {"token": token, **latest_epoch})
    findings.pending_progress.clear()


def _reap(pid: int) -> tuple[int, Any] | None:
    """Collect exited processes (PID 1 inherits orphans); return our child's status once it exits."""
    mine = None
    while True:
        try:
            reaped, code, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return mine
        if reaped == 0:
            return mine
        if reaped == pid:
            mine = (code, usage)


def _wait_for(pid: int) -> tuple[int, Any] | None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = _reap(pid)
        if status is not None:
            return status
        time.sleep(0.02)
    return None


def _drain(log_r: int, log: LogCapture, findings: Findings, open_fds: set[int]) -> None:
    deadline = time.monotonic() + 0.5
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_fds), [], [], 0.05)
        if not ready:
            break
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
            elif fd == log_r:
                log.add(chunk)
            else:
                findings.add(chunk)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _exit_fields(code: int) -> dict[str, int | None]:
    if os.WIFSIGNALED(code):
        return {"code": None, "signal": os.WTERMSIG(code)}
    return {"code": os.WEXITSTATUS(code) if os.WIFEXITED(code) else None, "signal": None}


def _emit(kind: str, fields: Mapping[str, Any]) -> None:
    """One message of `kind` (declared in `grader.wire`) on stdout, stamped with the protocol version."""
    data = (json.dumps(wire.stamp(kind, fields), default=str) + "\n").encode()
    view = memoryview(data)
    while view:
        written = os.write(1, view)
        view = view[written:]


def _set_dumpable(dumpable: bool) -> None:
    """A non-dumpable harness keeps same-uid student processes out of its /proc entries."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, int(dumpable), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _run_child(job: Mapping[str, Any], go_r: int, log_w: int, findings_w: int, close: tuple[int, ...]) -> None:
    """In the forked child: wire stdio to the log, wait for the go, run the attempt, never return."""
    student_started = False
    try:
        for fd in close:
            os.close(fd)
        os.setpgid(0, 0)
        _set_dumpable(True)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(log_w, 1)
        os.dup2(log_w, 2)
        os.close(log_w)
        os.read(go_r, 1)
        os.close(go_r)
        limit = (int(job["memory_mb"]) + ADDRESS_SPACE_SLACK_MB) * 1024 * 1024
        if sys.platform.startswith("linux"):
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        else:  # macOS refuses most address-space limits; the starter kit's checker still runs there
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.chdir(job["scratch_dir"])
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        channel = os.fdopen(findings_w, "wb", buffering=0, closefd=False)

        def send(message: dict[str, Any]) -> None:
            channel.write((json.dumps(message) + "\n").encode())

        rlimit_cpu = job.get("cpu_clock", "process") == "process" and job.get("cpu_s") is not None
        copy_file = job.get("copy_file")

        def start_student() -> None:
            nonlocal student_started
            if rlimit_cpu:
                _limit_cpu(float(job["cpu_s"]), COPY_ALLOWANCE_S if copy_file else 0.0)
            student_started = True
            send({"kind": "stage", "stage": "student"})

        def start_copy() -> None:
            if rlimit_cpu:
                _allow_copy()

        with warnings.catch_warnings():
            # The runner names every AVX-512 group to pin NumPy's SIMD code (grader/numerics.py); NumPy
            # warns about the groups this CPU lacks, which says nothing about the student's code.
            warnings.filterwarnings("ignore", message=NUMPY_FEATURE_WARNING, category=RuntimeWarning)
            from grader.attempt import run_attempt

        run_attempt(job["question"], job["seed"], Path(job["submission_dir"]), Path(job["data_dir"]), send,
                    data_files=job.get("data_files"), start_student=start_student, split=job["split"],
                    copy_file=Path(copy_file) if copy_file else None, start_copy=start_copy)
    except BaseException as exc:
        if not student_started:
            # Nothing of the student's has run: this failure is the grader's, and the host must know.
            _send_raw(findings_w, {"kind": "harness_fault", "stage": "setup",
                                   "message": f"{type(exc).__name__}: {exc}"[:2000]})
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(0)


def _limit_cpu(budget_s: float, room_s: float = 0.0) -> None:
    """RLIMIT_CPU counts this process's CPU time from its start: allow what was used so far plus the budget.

    `room_s` leaves the hard limit that much higher, for `_allow_copy` to raise the soft limit into later.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + budget_s)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + RLIMIT_CPU_HARD_GRACE_S + math.ceil(room_s)))


def _allow_copy() -> None:
    """Let the integrity check's copy be predicted on our time: the soft limit moves COPY_ALLOWANCE_S past now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if soft == resource.RLIM_INFINITY:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wanted = math.ceil(usage.ru_utime + usage.ru_stime + COPY_ALLOWANCE_S)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (min(max(soft, wanted), hard), hard))


def _send_raw(fd: int, message: Mapping[str, Any]) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps(message) + "\n").encode())


if __name__ == "__main__":
    sys.exit(main())
