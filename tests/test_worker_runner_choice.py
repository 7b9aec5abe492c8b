"""A worker never grades student code unisolated unless told to in so many words; neither does the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.local_runner import LocalRunner
from nngrade.settings import Settings
from sandbox import DockerRunner, make_runner
from sandbox.select import SandboxUnavailable
from worker.context import build_plain_runner, build_runner
from worker.health import GuardedRunner
from worker.options import WorkerOptions


def test_auto_means_docker_for_a_worker_even_without_an_engine(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, data_dir=tmp_path / "data", runner="auto", secret_key="k" * 40)
    runner = build_runner(settings, WorkerOptions(), owner="worker@here/1/x")
    assert isinstance(runner, GuardedRunner) and isinstance(runner.inner, DockerRunner)
    assert runner.inner.settings.owner == "worker@here/1/x"


def test_local_is_used_only_when_configured(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, data_dir=tmp_path / "data", runner="local", secret_key="k" * 40)
    assert isinstance(build_plain_runner(settings, WorkerOptions()), LocalRunner)


def test_auto_without_an_engine_refuses_instead_of_running_unisolated(tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="--runner local"):
        make_runner("auto", tmp_path, base_url=f"unix://{tmp_path}/no-docker.sock")
    assert isinstance(make_runner("local", tmp_path), LocalRunner)


def test_grade_command_refuses_without_the_sandbox(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.app import run

    models = tmp_path / "models.py"
    models.write_text("x = 1\n")
    # The engine's real refusal is tested above; here only what the command does with it.
    monkeypatch.setattr(DockerRunner, "readiness_problem", lambda self: "Docker engine not reachable")
    monkeypatch.setenv("NNGRADE_VAR_DIR", str(tmp_path))
    assert run(["grade", str(models), "--question", "q1"]) == 2
    assert "--runner local" in capsys.readouterr().err
