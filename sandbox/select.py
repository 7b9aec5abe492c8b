"""Choose the runner an entry point asked for: Docker, or the local process runner only when asked by name.

Student code never runs unisolated by default: "auto" is Docker, checked up front, and an engine that is
down or an image that is not built is an error that names the fix (and `--runner local`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from grader.local_runner import LocalRunner
from grader.runs import Runner
from sandbox.engine import DEFAULT_BASE_URL, EngineError
from sandbox.runner import DockerRunner, DockerSettings


class SandboxUnavailable(EngineError):
    """"auto" was asked for and the Docker sandbox cannot grade; the message says why and what to do."""


def make_runner(
    kind: str, data_dir: Path, *, owner: str | None = None, base_url: str = DEFAULT_BASE_URL,
    image: str | None = None,
) -> Runner:
    """`docker` always gives the Docker runner (an engine fault then shows as infrastructure_error);
    `auto` gives it when the engine answers and the image is built, else raises `SandboxUnavailable`;
    `local` (no isolation) only when asked by name. `owner` labels the sandboxes (default: this process)."""
    if kind == "local":
        return LocalRunner(data_dir)
    if kind not in ("docker", "auto"):
        raise ValueError(f"unknown runner {kind!r}: use auto, docker or local")
    settings = DockerSettings(data_dir=data_dir, image=image, base_url=base_url)
    runner = DockerRunner(settings if owner is None else dataclasses.replace(settings, owner=owner))
    if kind == "auto" and (problem := docker_problem(runner)) is not None:
        runner.close()
        raise SandboxUnavailable(
            f"the Docker sandbox cannot grade: {problem}. Student code runs unisolated only when asked: "
            "--runner local (or NNGRADE_RUNNER=local)"
        )
    return runner


def docker_problem(runner: DockerRunner) -> str | None:
    """Why this Docker runner cannot grade right now (engine down, image not built), or None."""
    return runner.readiness_problem()
