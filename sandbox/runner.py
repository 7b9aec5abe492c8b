"""`DockerRunner`: one question attempt in one fresh, locked-down container.

What the container is lives in `sandbox.container`, its life from creation to removal in `sandbox.attempt`,
the reading of its output in `sandbox.output`; this module ties them to `grader.runs.Runner`, and finds
and removes the containers a dead worker left behind.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from grader.challenge import COPY_FILE, CopyError
from grader.limits import Limits
from grader.mnist import MnistDataError, public_file_sizes
from grader.protocol import HarnessStream, build_job
from grader.questions import copy_source
from grader.runs import ProgressCallback, RunOutcome, RunRequest
from sandbox.attempt import Attempt, infrastructure
from sandbox.container import (
    CHALLENGE_DIR,
    DATA_DIR,
    SCRATCH_DIR,
    SUBMISSION_DIR,
    challenge_copy,
    sandbox_spec,
    submission_copy,
)
from sandbox.engine import (
    DEFAULT_BASE_URL,
    OWNER_LABEL,
    SANDBOX_LABEL,
    ContainerInfo,
    ContainerSpec,
    Engine,
    EngineError,
)
from sandbox.limits import SandboxLimits
from sandbox.owner import owner_id

logger = logging.getLogger(__name__)

SandboxResult = RunOutcome


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
            return infrastructure(stream, str(exc), limits)
        try:
            data_files = public_file_sizes(self.settings.data_dir)
        except MnistDataError as exc:
            data_files = None
            if _needs_mnist(request.question):
                return infrastructure(stream, str(exc), limits, digest)
        try:
            with submission_copy(request.submission) as submission_dir, \
                    challenge_copy(self.public_data_dir, copy_source(request.question, request.split)) as challenge:
                spec = self._spec(limits, submission_dir, challenge[1] if challenge else None)
                job = build_job(request, submission_dir=SUBMISSION_DIR, data_dir=DATA_DIR, scratch_dir=SCRATCH_DIR,
                                cpu_clock="cgroup", data_files=data_files,
                                copy_file=f"{CHALLENGE_DIR}/{COPY_FILE}" if challenge else None)
                outcome = Attempt(engine, spec, limits, stream, digest).run(job)
                return dataclasses.replace(outcome, copy_key=challenge[0] if challenge else None)
        except CopyError as exc:
            return infrastructure(stream, str(exc), limits, digest)
        except OSError as exc:
            return infrastructure(stream, f"Could not prepare the submission for the sandbox: {exc}", limits, digest)

    def _spec(self, limits: SandboxLimits, submission_dir: Path, challenge_dir: Path | None = None) -> ContainerSpec:
        return sandbox_spec(self.image, self.settings.owner, limits, self.public_data_dir, submission_dir,
                            challenge_dir)


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


def _needs_mnist(question: str) -> bool:
    from grader.questions import get_question

    try:
        return get_question(question).needs_mnist
    except KeyError:
        return False
