"""`DockerRunner`: one question attempt in one fresh, locked-down container.

The container has no network, a read-only root, a small noexec tmpfs at /tmp, memory == memory+swap,
a CPU quota, a pid cap, no capabilities, no-new-privileges, uid 10001, and sees only a copy of
models.py (/submission), the public MNIST cache (/data) and, for q2 on the test images, the integrity
check's copy of them made for this attempt (/challenge, removed with the attempt). The harness runs as
PID 1 (so a student cannot signal it), reads the job from stdin and reports on stdout; the host parses
that stream with `grader.protocol`, enforces the wall clock, reads the engine's OOM flag, and always
removes the container.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grader.challenge import COPY_FILE, CopyError, CopyKey, write_new_copy
from grader.harness import bootstrap_command
from grader.limits import Limits
from grader.messages import N_, message
from grader.mnist import MnistDataError, public_file_sizes
from grader.numerics import PINNED_NUMERICS_ENV, blas_thread_env
from grader.protocol import HarnessStream, RunFacts, build_job, classify_run
from grader.questions import copy_source
from grader.runs import ProgressCallback, RunOutcome, RunRequest
from sandbox.engine import (
    DEFAULT_BASE_URL,
    OWNER_LABEL,
    PROCESS_LABEL,
    SANDBOX_LABEL,
    Attachment,
    ContainerInfo,
    ContainerSpec,
    Engine,
    EngineError,
    ExitState,
)
from sandbox.limits import MIB, SandboxLimits
from sandbox.owner import owner_id, process_stamp

logger = logging.getLogger(__name__)

SandboxResult = RunOutcome

CODE_ROOT = "/opt/nngrade"
SUBMISSION_DIR = "/submission"
DATA_DIR = "/data"
CHALLENGE_DIR = "/challenge"  # the integrity check's copy of the graded images (grader.challenge), read-only
SCRATCH_DIR = "/tmp"
SANDBOX_USER = "10001:10001"
# How long to wait for the engine to report an exit once the output has ended.
EXIT_WAIT_S = 30.0
POLL_S = 0.25
STDERR_KEEP_BYTES = 16 * 1024
# How PID 1 ends when something outside kills the container (SIGKILL, SIGTERM): the harness ignores
# signals from inside and cannot be killed by its own namespace, so these exits are never the student's.
OUTSIDE_KILL_EXIT_CODES = (128 + 9, 128 + 15)


@dataclass(frozen=True)
class DockerSettings:
    """Where the engine is, which image, whose containers. Built by the entry point, passed down."""

    data_dir: Path  # the MNIST cache; only its public/ subdirectory is ever mounted
    image: str | None = None  # default: the tag this checkout's grader/ hashes to (sandbox.image)
    base_url: str = DEFAULT_BASE_URL
    # Whose containers these are (a worker's identity; by default this process): the nngrade.owner label,
    # which orphan reaping goes by.
    owner: str = dataclasses.field(default_factory=lambda: owner_id("cli"))


class DockerRunner:
    """Implements `grader.runs.Runner` with one container per attempt."""

    name = "docker"

    def __init__(self, settings: DockerSettings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.public_data_dir = (settings.data_dir / "public").resolve()
        self._engine = engine
        self._owns_engine = engine is None
        self._image = settings.image

    @property
    def image(self) -> str:
        if self._image is None:
            from sandbox.image import expected_tag

            self._image = expected_tag()
        return self._image

    def close(self) -> None:
        """Close the engine connection this runner opened (one it was given stays open)."""
        if self._engine is not None and self._owns_engine:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> DockerRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine.connect(self.settings.base_url)
        return self._engine

    def image_digest(self) -> str:
        """The content digest of the image this runner uses; `EngineError` when it is missing."""
        digest = self.engine().image_id(self.image)
        if digest is None:
            raise EngineError(
                f"sandbox image {self.image} is not built for this checkout: run `python -m sandbox.image build`"
            )
        return digest

    def readiness_problem(self) -> str | None:
        """Why this runner cannot grade right now (engine unreachable, image not built), or None."""
        try:
            self.engine()
            self.image_digest()
        except EngineError as exc:
            return str(exc)
        return None

    def reap_orphans(self, owner: str) -> int:
        """Remove every sandbox container of `owner`; returns how many."""
        return reap_orphans(self.engine(), owner)

    def run(self, request: RunRequest, on_progress: ProgressCallback | None = None) -> RunOutcome:
        stream = HarnessStream(on_progress)
        limits = SandboxLimits.from_limits(request.limits)
        try:
            engine = self.engine()
            digest = self.image_digest()
        except EngineError as exc:
            return _infrastructure(stream, str(exc), limits)
        try:
            data_files = public_file_sizes(self.settings.data_dir)
        except MnistDataError as exc:
            data_files = None
            if _needs_mnist(request.question):
                return _infrastructure(stream, str(exc), limits, digest)
        try:
            with _submission_copy(request.submission) as submission_dir, \
                    _challenge_copy(self.public_data_dir, copy_source(request.question, request.split)) as challenge:
                spec = self._spec(limits, submission_dir, challenge[1] if challenge else None)
                job = build_job(request, submission_dir=SUBMISSION_DIR, data_dir=DATA_DIR, scratch_dir=SCRATCH_DIR,
                                cpu_clock="cgroup", data_files=data_files,
                                copy_file=f"{CHALLENGE_DIR}/{COPY_FILE}" if challenge else None)
                outcome = _Attempt(engine, spec, limits, stream, digest).run(job)
                return dataclasses.replace(outcome, copy_key=challenge[0] if challenge else None)
        except CopyError as exc:
            return _infrastructure(stream, str(exc), limits, digest)
        except OSError as exc:
            return _infrastructure(stream, f"Could not prepare the submission for the sandbox: {exc}", limits, digest)

    def _spec(self, limits: SandboxLimits, submission_dir: Path, challenge_dir: Path | None = None) -> ContainerSpec:
        if not self.public_data_dir.is_dir():
            raise OSError(f"the public MNIST directory {self.public_data_dir} does not exist (nngrade data fetch)")
        binds = {
            str(submission_dir): {"bind": SUBMISSION_DIR, "mode": "ro"},
            str(self.public_data_dir): {"bind": DATA_DIR, "mode": "ro"},
        }
        if challenge_dir is not None:
            binds[str(challenge_dir)] = {"bind": CHALLENGE_DIR, "mode": "ro"}
        return ContainerSpec(
            image=self.image,
            command=bootstrap_command("python3", Path(CODE_ROOT)),
            user=SANDBOX_USER,
            working_dir=SCRATCH_DIR,
            # Only what the harness needs; the image supplies PATH, LANG, HOME. Nothing of the host's.
            environment={
                **PINNED_NUMERICS_ENV,
                **blas_thread_env(limits.blas_threads),
                "TMPDIR": SCRATCH_DIR,
                # glibc malloc: arrays up to 4 MiB from the heap, and no trimming of it after every free;
                # by default each large numpy temporary is a fresh mmap and a storm of page faults
                # (BENCHMARKS.md, allocator). Values are unchanged: only where memory comes from.
                "MALLOC_MMAP_THRESHOLD_": "4194304",
                "MALLOC_TRIM_THRESHOLD_": "134217728",
            },
            labels={SANDBOX_LABEL: "1", OWNER_LABEL: self.settings.owner, PROCESS_LABEL: process_stamp()},
            binds=binds,
            tmpfs={SCRATCH_DIR: f"rw,noexec,nosuid,nodev,size={limits.scratch_mb}m,mode=1777"},
            memory_bytes=limits.memory_bytes,
            nano_cpus=limits.nano_cpus,
            pids=limits.pids,
            shm_bytes=limits.scratch_mb * MIB,
            ulimits={"core": 0, "nofile": limits.open_files},
        )


def run_submission(
    submission: Path,
    limits: Limits,
    *,
    question: str,
    seed: int,
    settings: DockerSettings,
    on_progress: ProgressCallback | None = None,
) -> SandboxResult:
    """Run one attempt of `submission` in a fresh container: exactly `DockerRunner.run`."""
    with DockerRunner(settings) as runner:
        return runner.run(RunRequest(submission, question, seed, limits), on_progress)


def reap_orphans(engine: Engine, owner: str) -> int:
    """Remove every sandbox container of `owner` (never anyone else's); returns how many."""
    removed = 0
    for container_id in engine.containers({SANDBOX_LABEL: "1", OWNER_LABEL: owner}):
        engine.remove(container_id)
        removed += 1
    if removed:
        logger.warning("removed %d sandbox container(s) of %s", removed, owner)
    return removed


def list_sandboxes(engine: Engine) -> list[ContainerInfo]:
    """Every sandbox container on the engine, whoever started it (for a reaper to judge, not to remove)."""
    return engine.containers_info({SANDBOX_LABEL: "1"})


class _Attempt:
    """One container's life: create, attach, start, feed the job, pump output, classify, remove."""

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
            return _infrastructure(self.stream, str(exc), self.limits, self.digest, time.monotonic() - started)
        finally:
            if attachment is not None:
                attachment.close()
            if container_id is not None:
                self._remove(container_id)

    def _pump(self, attachment: Attachment, container_id: str, deadline: float) -> None:
        """Read the container's output until it ends; kill it at the deadline or on a violation."""
        demux = _Demuxer()
        sock = attachment.sock
        sock.settimeout(POLL_S)
        while True:
            now = time.monotonic()
            if now >= deadline or self._must_stop():
                self.timed_out = now >= deadline
                # Hang up first: the engine cannot finish a kill while its copy to an unread socket blocks.
                attachment.hang_up()
                self.killed_by_host = True
                self.engine.kill(container_id)
                return
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                logger.warning("sandbox %s: output stream broke: %s", container_id[:12], exc)
                return
            if not chunk:
                return
            for kind, payload in demux.feed(chunk):
                if kind == 1:
                    self.stream.feed(payload)
                else:
                    self.stderr_bytes += len(payload)
                    self.stderr += payload
                    del self.stderr[:-STDERR_KEEP_BYTES]

    def _must_stop(self) -> bool:
        return self.stream.violation is not None or self.stderr_bytes > self.limits.output_bytes

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


class _Demuxer:
    """Splits Docker's attach stream (8-byte header: stream id, 3 zero bytes, big-endian length)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> Iterator[tuple[int, bytes]]:
        self._buffer += chunk
        while len(self._buffer) >= 8:
            kind, length = struct.unpack(">BxxxL", self._buffer[:8])
            if len(self._buffer) < 8 + length:
                return
            payload = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            yield kind, payload


def _send_stdin(sock: socket.socket, data: bytes) -> None:
    """Write the job and half-close, which the engine turns into EOF on the container's stdin."""
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError as exc:
        # The container may already be gone (it died at start); its exit explains why.
        logger.warning("could not send the job to the sandbox: %s", exc)


@contextlib.contextmanager
def _submission_copy(submission: Path) -> Iterator[Path]:
    """A fresh directory holding only models.py, readable by the sandbox user, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="nngrade-submission-"))
    try:
        shutil.copyfile(submission, tmp / "models.py")
        os.chmod(tmp / "models.py", 0o644)
        os.chmod(tmp, 0o755)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _challenge_copy(public_dir: Path, source: str | None) -> Iterator[tuple[CopyKey, Path] | None]:
    """The integrity check's copy for one attempt in a fresh directory, with its key; removed afterwards.

    None when the attempt has no copy (q1, the validation split). Raises CopyError when it cannot be made.
    """
    if source is None:
        yield None
        return
    tmp = Path(tempfile.mkdtemp(prefix="nngrade-challenge-"))
    try:
        key, _ = write_new_copy(public_dir / source, tmp)
        os.chmod(tmp, 0o755)
        yield key, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _infrastructure(
    stream: HarnessStream, problem: str, limits: Limits, digest: str | None = None, wall_s: float = 0.0
) -> RunOutcome:
    return classify_run(stream, RunFacts(
        runner="docker", wall_s=round(wall_s, 4), exit_code=None, image_digest=digest,
        infrastructure_problem=problem, cpu_limit_s=limits.cpu_s, wall_limit_s=limits.wall_s,
    ))


def _needs_mnist(question: str) -> bool:
    from grader.questions import get_question

    try:
        return get_question(question).needs_mnist
    except KeyError:
        return False
