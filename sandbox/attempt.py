"""One container's life: create, attach, start, feed the job, read its output, classify, remove.

The harness runs as PID 1 (so a student cannot signal it), reads the job from stdin and reports on
stdout; the host parses that stream with `grader.protocol`, enforces the wall clock and the output cap,
reads the engine's OOM flag, and always removes the container.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import time

from grader.limits import Limits
from grader.messages import N_, message
from grader.protocol import HarnessStream, RunFacts, classify_run
from grader.runs import RunOutcome
from sandbox.engine import Attachment, ContainerSpec, Engine, EngineError, ExitState
from sandbox.limits import SandboxLimits
from sandbox.output import STDOUT, OutputFrames

logger = logging.getLogger(__name__)

# How long to wait for the engine to report an exit once the output has ended.
EXIT_WAIT_S = 30.0
POLL_S = 0.25
STDERR_KEEP_BYTES = 16 * 1024
# How PID 1 ends when something outside kills the container (SIGKILL, SIGTERM): the harness ignores
# signals from inside and cannot be killed by its own namespace, so these exits are never the student's.
OUTSIDE_KILL_EXIT_CODES = (128 + 9, 128 + 15)


class Attempt:
    """One attempt in one container, from `ContainerSpec` to classified `RunOutcome`."""

    def __init__(
        self, engine: Engine, spec: ContainerSpec, limits: SandboxLimits, stream: HarnessStream, digest: str
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.limits = limits
        self.stream = stream
        self.digest = digest
        self.stderr = bytearray()
        self.stderr_bytes = 0
        self.timed_out = False
        self.killed_by_host = False

    def run(self, job: bytes) -> RunOutcome:
        """Run the container on `job` (the harness's stdin) and classify how it ended; never raises for it."""
        container_id: str | None = None
        attachment: Attachment | None = None
        started = time.monotonic()
        try:
            container_id = self.engine.create(self.spec)
            attachment = self.engine.attach(container_id)
            started = time.monotonic()
            self.engine.start(container_id)
            _send_stdin(attachment.sock, job)
            self._pump(attachment, container_id, started + self.limits.kill_after_s)
            self.stream.close()
            state = self.engine.wait(container_id, timeout_s=EXIT_WAIT_S)
            if state.exit_code is None:  # still running after its output closed: end it
                self.killed_by_host = True
                self.engine.kill(container_id)
                state = self.engine.wait(container_id, timeout_s=EXIT_WAIT_S)
            return self._classify(state, time.monotonic() - started)
        except EngineError as exc:
            return infrastructure(self.stream, str(exc), self.limits, self.digest, time.monotonic() - started)
        finally:
            if attachment is not None:
                attachment.close()
            if container_id is not None:
                self._remove(container_id)

    def _pump(self, attachment: Attachment, container_id: str, deadline: float) -> None:
        """Read the container's output until it ends; kill it at the deadline or on a violation."""
        frames = OutputFrames(attachment.sock)
        try:
            while True:
                now = time.monotonic()
                if now >= deadline or self._must_stop():
                    self.timed_out = now >= deadline
                    # Hang up first: the engine cannot finish a kill while its copy to an unread socket blocks.
                    attachment.hang_up()
                    self.killed_by_host = True
                    self.engine.kill(container_id)
                    return
                frame = frames.get(min(POLL_S, deadline - now))
                if frame is None:
                    if not frames.ended:
                        continue
                    if frames.error is not None:
                        logger.warning("sandbox %s: output stream broke: %s", container_id[:12], frames.error)
                    return
                kind, payload = frame
                if kind == STDOUT:
                    self.stream.feed(payload)
                else:
                    self.stderr_bytes += len(payload)
                    self.stderr += payload
                    del self.stderr[:-STDERR_KEEP_BYTES]
        finally:
            frames.close()

    def _must_stop(self) -> bool:
        return self.stream.broken or self.stderr_bytes > self.limits.output_bytes

    def _classify(self, state: ExitState, wall_s: float) -> RunOutcome:
        problem = None
        stderr_text = self.stderr.decode("utf-8", errors="replace").strip()
        if self.stream.token is None and state.exit_code == 2 and not state.oom_killed:
            problem = f"The grader could not start in the sandbox: {stderr_text[-500:]}"
        elif state.error:
            problem = f"The container failed: {state.error}"
        elif (self.stream.result is None and not self.killed_by_host and not state.oom_killed
              and state.exit_code in OUTSIDE_KILL_EXIT_CODES):
            problem = f"The sandbox was stopped from outside the grader (exit code {state.exit_code})."
        outcome = classify_run(self.stream, RunFacts(
            runner="docker",
            wall_s=round(wall_s, 4),
            exit_code=state.exit_code,
            timed_out=self.timed_out,
            oom_killed=state.oom_killed,
            image_digest=self.digest,
            infrastructure_problem=problem,
            cpu_limit_s=self.limits.cpu_s,
            wall_limit_s=self.limits.wall_s,
        ))
        if self.stderr_bytes > self.limits.output_bytes and outcome.status == "crashed":
            stopped = message(N_("Grading stopped: too much output."))
            outcome = dataclasses.replace(outcome, status="bad_output", detail=stopped.text, detail_message=stopped)
        if stderr_text:
            logger.info("sandbox stderr (%d bytes): %s", self.stderr_bytes, stderr_text[-2000:])
        return outcome

    def _remove(self, container_id: str) -> None:
        try:
            self.engine.remove(container_id)
        except EngineError as exc:
            # The next reap_orphans() removes it; the outcome already stands.
            logger.error("could not remove sandbox container %s: %s", container_id[:12], exc)


def _send_stdin(sock: socket.socket, data: bytes) -> None:
    """Write the job and half-close, which the engine turns into EOF on the container's stdin."""
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError as exc:
        # The container may already be gone (it died at start); its exit explains why.
        logger.warning("could not send the job to the sandbox: %s", exc)


def infrastructure(
    stream: HarnessStream, problem: str, limits: Limits, digest: str | None = None, wall_s: float = 0.0
) -> RunOutcome:
    """The outcome of an attempt that failed for a reason of ours (`problem`, for an operator)."""
    return classify_run(stream, RunFacts(
        runner="docker", wall_s=round(wall_s, 4), exit_code=None, image_digest=digest,
        infrastructure_problem=problem, cpu_limit_s=limits.cpu_s, wall_limit_s=limits.wall_s,
    ))
