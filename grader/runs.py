"""The runner boundary: one question attempt in, one classified run out.

A runner starts the harness (``python -m grader.harness``) somewhere isolated, feeds it a job, watches it
from outside and classifies how the process ended. What the harness reports is untrusted; `protocol`
validates it and `scoring` turns it into points on the host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from grader.limits import Limits
from grader.messages import Message

if TYPE_CHECKING:
    from grader.challenge import CopyKey

# How the process ended, decided by the runner from outside the process.
RunStatus = Literal["ok", "timeout", "out_of_memory", "crashed", "bad_output", "infrastructure_error"]
RUN_STATUSES: tuple[RunStatus, ...] = (
    "ok", "timeout", "out_of_memory", "crashed", "bad_output", "infrastructure_error",
)

ProgressCallback = Callable[[Mapping[str, Any]], None]

# Which held-out images a question that scores on held-out data (q2) is evaluated on: "test" where the
# test labels are (the server), "validation" where only public labels are (a student's machine).
Split = Literal["test", "validation"]
SPLITS: tuple[Split, ...] = ("test", "validation")


@dataclass(frozen=True)
class RunRequest:
    submission: Path  # the student's models.py on the host
    question: str
    seed: int
    limits: Limits = field(default_factory=Limits)
    split: Split = "test"


@dataclass(frozen=True)
class RunOutcome:
    status: RunStatus
    # The harness's validated observation (see grader.protocol); None when it never produced one.
    observation: Mapping[str, Any] | None
    detail: str  # one sentence for the student / operator: why this status
    wall_s: float
    cpu_s: float
    peak_memory_mb: float
    log_excerpt: str
    runner: str  # "local" or "docker"
    image_digest: str | None = None
    exit_code: int | None = None
    versions: tuple[str, str] | None = None  # (python, numpy) where the attempt ran
    # For the student, about their file rather than the outcome (e.g. an unused import of a missing module).
    warnings: tuple[str, ...] = ()
    cpu_limit_s: float | None = None  # the CPU-time budget the attempt ran under
    wall_limit_s: float | None = None  # the wall-clock backstop
    detail_message: Message | None = None  # `detail` as a template with values, for readers in other languages
    # The key of the integrity check's copy the attempt was given (grader.challenge), kept on the host.
    copy_key: CopyKey | None = None


class Runner(Protocol):
    name: str

    def run(self, request: RunRequest, on_progress: ProgressCallback | None = None) -> RunOutcome:
        """Run one attempt to completion and classify it; never raises for anything the student did."""
        ...
