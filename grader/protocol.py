"""Host side of the harness protocol: build the job, read the stream, classify how the run ended.

Every runner (local process, Docker) feeds the harness's stdout through `HarnessStream` and hands the
facts it observed from outside to `classify_run`, so both runners decide outcomes the same way.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grader import wire
from grader.messages import N_, Message, message
from grader.runs import ProgressCallback, RunOutcome, RunRequest, RunStatus

# PrairieLearn's rule: a results channel bigger than this is broken, whatever it says.
MAX_STREAM_BYTES = 1024 * 1024
MAX_LINE_BYTES = 512 * 1024


def build_job(
    request: RunRequest,
    *,
    submission_dir: str,
    data_dir: str,
    scratch_dir: str,
    cpu_clock: str,
    data_files: Mapping[str, int] | None = None,
    copy_file: str | None = None,
) -> bytes:
    """The job the harness reads from stdin; paths are as the harness will see them.

    `cpu_clock` says how the harness counts CPU time (``cgroup``: the container's; ``process``: the
    student's process tree); `data_files` maps each public MNIST file to its size, for the pre-check;
    `copy_file` is the integrity check's copy of the graded images (grader.challenge), when there is one.
    """
    limits = request.limits
    job = wire.stamp("job", {
        "question": request.question,
        "seed": request.seed,
        "split": request.split,
        "submission_dir": submission_dir,
        "data_dir": data_dir,
        "scratch_dir": scratch_dir,
        "wall_s": limits.wall_s,
        "cpu_s": limits.cpu_s,
        "cpu_clock": cpu_clock,
        "memory_mb": limits.memory_mb,
        "output_bytes": limits.output_bytes,
    })
    if data_files is not None:
        job["data_files"] = dict(data_files)
    if copy_file is not None:
        job["copy_file"] = copy_file
    return json.dumps(job).encode()


class HarnessStream:
    """Incremental, size-capped parser of the harness's stdout. Untrusted until proven otherwise.

    Every line is checked against its declaration in `grader.wire`. What the sandbox got wrong is a
    `violation` (the attempt is bad output); a message of another protocol version from the harness itself
    (the greeting, or a line with its token) is an `infrastructure_problem`, never charged to the student. So
    is anything wrong before the greeting: the student's process waits for the harness's go-ahead, sent
    only after the greeting, and its output goes to the log, so only our own code wrote those bytes.
    """

    def __init__(self, on_progress: ProgressCallback | None = None, max_bytes: int = MAX_STREAM_BYTES) -> None:
        self._on_progress = on_progress
        self._max_bytes = max_bytes
        self._buffer = bytearray()
        self._received = 0
        self.token: str | None = None
        self.child_pgid: int | None = None
        # (python, numpy) where the student's code ran, as the harness reports them.
        self.versions: tuple[str, str] | None = None
        self.result: dict[str, Any] | None = None
        self.violation: str | None = None
        self.infrastructure_problem: str | None = None

    @property
    def received_bytes(self) -> int:
        return self._received

    @property
    def over_limit(self) -> bool:
        return self._received > self._max_bytes

    @property
    def broken(self) -> bool:
        """Nothing more on this stream counts: the runner may stop the sandbox now."""
        return self.violation is not None or self.infrastructure_problem is not None

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the harness's stdout, in any chunking."""
        if self.broken:
            return
        self._received += len(chunk)
        if self.over_limit:
            self._fault(f"the sandbox wrote more than {self._max_bytes} bytes of results")
            return
        self._buffer += chunk
        while not self.broken and b"\n" in self._buffer:
            line, _, rest = bytes(self._buffer).partition(b"\n")
            self._buffer = bytearray(rest)
            self._line(line)
        if len(self._buffer) > MAX_LINE_BYTES:
            self._fault("the sandbox wrote a result line that is too long")

    def close(self) -> None:
        """The stream ended: a line left unfinished is a violation."""
        if self._buffer.strip() and not self.broken:
            self._fault("the sandbox's results ended in the middle of a line")

    def _fault(self, problem: str) -> None:
        """A broken stream: the student's if the greeting came, else ours (see the class's docstring)."""
        if self.token is None:
            self.infrastructure_problem = f"The grader in the sandbox failed before the student's code ran: {problem}."
        else:
            self.violation = problem

    def _line(self, raw: bytes) -> None:
        if not raw.strip():
            return
        try:
            message = json.loads(raw)
        except ValueError:
            self._fault("the sandbox wrote something that is not a result")
            return
        if not isinstance(message, dict):
            self._fault("the sandbox wrote something that is not a result")
            return
        if self.token is None:
            self._hello(message)
            return
        if message.get("token") != self.token or self.result is not None:
            self.violation = "the sandbox's results were tampered with"
            return
        kind = message.get("type")
        if kind not in ("progress", "result"):
            self.violation = "the sandbox wrote an unknown kind of message"
            return
        try:
            valid = wire.validate(kind, message)
        except wire.VersionMismatch as exc:
            self.infrastructure_problem = f"The grader in the sandbox does not match this host: {exc}."
            return
        except wire.WireError as exc:
            what = "progress message" if kind == "progress" else "result"
            self.violation = f"the sandbox wrote a malformed {what}: {exc}"
            return
        if kind == "result":
            self.result = valid
        elif self._on_progress is not None:
            self._on_progress({key: valid[key] for key in ("event", "epoch", "value") if key in valid})

    def _hello(self, message: dict[str, Any]) -> None:
        try:
            hello = wire.validate("hello", message)
        except wire.VersionMismatch as exc:
            self.infrastructure_problem = f"The grader in the sandbox does not match this host: {exc}."
            return
        except wire.WireError as exc:
            self._fault(f"the sandbox's results did not start with the grader's greeting ({exc})")
            return
        self.token = hello["token"]
        self.child_pgid = hello.get("child_pgid")
        self.versions = (str(hello.get("python", "unknown"))[:32], str(hello.get("numpy", "unknown"))[:32])


@dataclass(frozen=True)
class RunFacts:
    """What a runner saw from outside the sandbox."""

    runner: str
    wall_s: float
    exit_code: int | None
    timed_out: bool = False  # the host's own wall-clock kill fired
    oom_killed: bool = False  # the engine says the memory limit killed something
    image_digest: str | None = None
    infrastructure_problem: str | None = None
    # The limits the attempt ran under, reported with the attempt.
    cpu_limit_s: float | None = None
    wall_limit_s: float | None = None


def classify_run(stream: HarnessStream, facts: RunFacts) -> RunOutcome:
    """Decide the run status from the stream and the outside facts; the host has the last word."""
    result = stream.result
    status: RunStatus
    observation: Mapping[str, Any] | None = result
    fault = result.get("harness_fault") if result is not None else None
    why: Message | None
    problem = facts.infrastructure_problem or stream.infrastructure_problem
    if problem is not None:
        # The runner's own words for an operator; the page adds that it is a fault of ours.
        status, why, observation = "infrastructure_error", None, None
        detail = problem
    elif stream.violation is None and fault is not None:
        status, observation = "infrastructure_error", None
        why = message(N_("The grader failed before running the submission ({stage}: {problem})."),
                      stage=str(fault["stage"]), problem=str(fault["message"]))
    elif stream.violation is not None:
        status, observation = "bad_output", None
        why = message(N_("Grading stopped: {violation}."), violation=stream.violation)
    elif facts.oom_killed:
        status, why = "out_of_memory", message(N_("Your code used more memory than the limit allows and was "
                                                  "stopped."))
    elif facts.timed_out and result is None:
        status, why = "timeout", _wall_timeout_detail(facts.wall_limit_s)
    elif result is None:
        status = "crashed"
        why = message(N_("The grader stopped without reporting (exit code {code})."), code=str(facts.exit_code))
    else:
        status, why = _classify_result(result, facts)
    if why is not None:
        detail = why.text
    if observation is not None and _copy_cut_short(observation, status):
        # The graded prediction was in before the integrity check's copy: the grade stands, and what stopped
        # the copy's prediction goes to the check (grader.integrity), for staff.
        final = {"status": "ok", "stage": "done", "evaluation": observation["evaluated"],
                 "copy": {"status": status, "message": detail}}
        observation = {**observation, "final": final}
        status, why = "ok", message(N_("The grader finished."))
        detail = why.text
    cpu_s = peak_mb = 0.0
    log_excerpt = ""
    warnings: tuple[str, ...] = ()
    if result is not None:
        cpu_s = float(result["rusage"]["cpu_s"])
        peak_mb = float(result["rusage"]["peak_memory_mb"])
        log_excerpt = result["log"]["excerpt"]
    if observation is not None:
        warnings = tuple(observation["warnings"])
    return RunOutcome(
        status=status,
        observation=observation,
        detail=detail,
        wall_s=facts.wall_s,
        cpu_s=cpu_s,
        peak_memory_mb=peak_mb,
        log_excerpt=log_excerpt,
        runner=facts.runner,
        image_digest=facts.image_digest,
        exit_code=facts.exit_code,
        versions=stream.versions,
        warnings=warnings,
        cpu_limit_s=facts.cpu_limit_s,
        wall_limit_s=facts.wall_limit_s,
        detail_message=why,
    )


def _wall_timeout_detail(wall_limit_s: float | None) -> Message:
    if wall_limit_s is None:
        return message(N_("Your code did not finish within the wall-clock limit and was stopped (time spent "
                          "waiting, such as sleeping, counts against this limit too)."))
    return message(N_("Your code did not finish within the wall-clock limit of {limit:g} s and was stopped (time "
                      "spent waiting, such as sleeping, counts against this limit too)."), limit=wall_limit_s)


def _copy_cut_short(observation: Mapping[str, Any], status: RunStatus) -> bool:
    """The attempt ended while the integrity check's copy was predicted, after the graded prediction was sent."""
    if observation.get("final") is not None or not isinstance(observation.get("evaluated"), dict):
        return False
    if status == "bad_output":  # printing too much is no tampering; a violation of the channel is
        return observation.get("terminated") == "output_limit"
    return status in ("timeout", "out_of_memory", "crashed")


def _classify_result(result: Mapping[str, Any], facts: RunFacts) -> tuple[RunStatus, Message]:
    terminated = result.get("terminated")
    if terminated == "cpu_limit":
        if facts.cpu_limit_s is None:
            return "timeout", message(N_("Your code used up its CPU-time budget and was stopped."))
        return "timeout", message(N_("Your code used up its CPU-time budget ({limit:g} s) and was stopped."),
                                  limit=facts.cpu_limit_s)
    if terminated == "timeout":
        return "timeout", _wall_timeout_detail(facts.wall_limit_s)
    if terminated == "output_limit":
        return "bad_output", message(N_(
            "Your code printed too much ({size} bytes) and was stopped; remove the prints inside training "
            "loops."), size=int(result["log"]["bytes"]))
    if terminated == "protocol_violation":
        return "bad_output", message(N_("Grading stopped: {violation}."),
                                     violation=str(result.get("violation") or "the grading channel was misused"))
    if result.get("final") is not None:
        return "ok", message(N_("The grader finished."))
    exit_fields = result["exit"]
    sig = exit_fields.get("signal")
    if isinstance(sig, int):
        return "crashed", message(N_("Your code crashed the Python process ({signal})."), signal=_signal_name(sig))
    return "crashed", message(N_(
        "Your code ended the process (exit status {status}) before grading finished; do not call exit() or "
        "os._exit() in models.py."), status=str(exit_fields.get("code")))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
