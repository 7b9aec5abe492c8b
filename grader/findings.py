"""What the harness collects from the student's process: a capped log of its output, and its findings.

Findings come over a private pipe as JSON lines (grader.attempt); the pipe is open in the student's
process too, so every line after the word "student" may be forged and is parsed strictly.
Standard library only: the harness imports this before any student code runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grader.wire import LOSS_NODES, REPORTED_STAGES

# Findings are small (q2 sends 5,000 digits); anything bigger is tampering.
MAX_FINDINGS_BYTES = 4 * 1024 * 1024
LOG_HEAD_BYTES = 8 * 1024
LOG_TAIL_BYTES = 8 * 1024
MAX_VALIDATION_POINTS = 200
# Warnings for the student (e.g. an unused import of a module the sandbox lacks): a few short lines.
MAX_WARNINGS = 20
MAX_WARNING_CHARS = 500


@dataclass
class LogCapture:
    """Keeps the head and tail of the student's output and counts the rest."""

    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = LOG_HEAD_BYTES - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            del self.tail[:-LOG_TAIL_BYTES]

    def excerpt(self) -> str:
        omitted = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {omitted} bytes of output omitted ...]\n".encode() if omitted > 0 else b""
        return bytes(self.head + middle + self.tail).decode("utf-8", errors="replace")


@dataclass
class Findings:
    """What the student's process reported, parsed strictly."""

    buffer: bytearray = field(default_factory=bytearray)
    received: int = 0
    final: dict[str, Any] | None = None
    # Set when the child is about to import models.py: from here on every message may be the student's.
    student_started: bool = False
    harness_fault: dict[str, str] | None = None
    sanity_passed: bool = False
    trained: bool = False
    # The last stage the student's process reported passing (None: still importing models.py).
    stage: str | None = None
    loss_node: str | None = None
    # The graded prediction, reported before the integrity check's copy is predicted.
    evaluation: dict[str, Any] | None = None
    epochs: int | None = None
    validation_accuracy: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    violation: str | None = None
    pending_progress: list[dict[str, Any]] = field(default_factory=list)

    def add(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > MAX_FINDINGS_BYTES:
            self.violation = "the grading channel received more data than any model produces"
            return
        self.buffer += chunk
        while b"\n" in self.buffer and self.violation is None:
            line, _, rest = bytes(self.buffer).partition(b"\n")
            self.buffer = bytearray(rest)
            self._handle(line)

    def _handle(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            self.violation = "the grading channel received data that is not from the grader"
            return
        if not isinstance(message, dict) or self.final is not None:
            self.violation = "the grading channel received an unexpected message"
            return
        kind = message.get("kind")
        if not self.student_started:
            self._before_student(kind, message)
        elif kind == "final":
            self.final = message
            if type(message.get("epochs")) is int:
                self.epochs = message["epochs"]
            warnings = message.get("warnings")
            if isinstance(warnings, list):
                self.warnings = [w[:MAX_WARNING_CHARS] for w in warnings[:MAX_WARNINGS] if isinstance(w, str)]
        elif kind == "stage" and message.get("stage") in REPORTED_STAGES:
            self._stage(message)
        elif kind == "progress" and message.get("event") == "epoch" and type(message.get("epoch")) is int:
            self.epochs = message["epoch"]
            self.pending_progress.append({"event": "epoch", "epoch": self.epochs})
        elif kind == "progress" and message.get("event") == "validation_accuracy" and isinstance(
            message.get("value"), float
        ):
            self.validation_accuracy.append(message["value"])
            del self.validation_accuracy[:-MAX_VALIDATION_POINTS]
            self.pending_progress.append({"event": "validation_accuracy", "value": message["value"]})
        else:
            self.violation = "the grading channel received an unexpected message"

    def _stage(self, message: dict[str, Any]) -> None:
        stage = message["stage"]
        passed = REPORTED_STAGES.index(self.stage) if self.stage is not None else -1
        if REPORTED_STAGES.index(stage) <= passed:
            self.violation = "the grading channel received stages out of order"
            return
        self.stage = stage
        if stage == "sanity_passed":
            self.sanity_passed = True
            loss = message.get("loss")
            self.loss_node = loss if loss in LOSS_NODES else None
        elif stage == "trained":
            self.trained = True
        elif stage == "evaluated":
            evaluation = message.get("evaluation")
            if not isinstance(evaluation, dict):
                self.violation = "the grading channel received a malformed evaluation"
                return
            self.evaluation = evaluation

    def _before_student(self, kind: Any, message: dict[str, Any]) -> None:
        # Only our code has run so far, so these two messages are trusted.
        if kind == "stage" and message.get("stage") == "student":
            self.student_started = True
        elif kind == "harness_fault" and self.harness_fault is None:
            self.harness_fault = {"stage": str(message.get("stage", ""))[:64],
                                  "message": str(message.get("message", ""))[:2000]}
        else:
            self.violation = "the grading channel received an unexpected message"
