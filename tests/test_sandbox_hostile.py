"""The hostile battery: each misbehaving submission graded through the real Docker sandbox.

Every file gets its expected run status and points, its container is gone afterwards, and a normal
submission graded right after it still gets its normal grade.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.questions import get_question
from grader.runs import RunOutcome, RunRequest
from grader.scoring import score_attempt
from sandbox import DockerRunner, DockerSettings, SandboxLimits
from sandbox.engine import OWNER_LABEL, SANDBOX_LABEL, Engine
from sandbox.owner import owner_id

REPO = Path(__file__).resolve().parent.parent
HOSTILE = REPO / "reference_solutions" / "hostile"
# A model that passes the sanity checks and does not train: always ok, below threshold, 2 points.
NORMAL = REPO / "reference_solutions" / "broken" / "no_training.py"
OWNER = owner_id("pytest-hostile")  # unique: other test runs share the engine
LIMITS = SandboxLimits(wall_s=20.0, memory_mb=256, kill_grace_s=5.0)
# 256 spinning copies of Python may or may not overrun 256 MB before the clock: give the bomb room.
LIMITS_FOR = {"fork_bomb.py": SandboxLimits(wall_s=20.0, memory_mb=2048, kill_grace_s=5.0)}
CANARY = "nngrade-canary-5f0c1d9e"
HOST_CANARY_PORT = 47613  # reference_solutions/hostile/network.py probes this port

# file: (question, run status, points). Each file's docstring states the same thing; `nngrade canary` checks
# a running service against the same table.
EXPECTED: dict[str, tuple[str, str, int]] = {
    name: (case["question"], case["status"], case["points"])
    for name, case in json.loads((REPO / "reference_solutions" / "expected.json").read_text())["hostile"].items()
}


@pytest.fixture(scope="module")
def runner(docker_engine: Engine, data_dir: Path) -> Iterator[DockerRunner]:
    runner = DockerRunner(DockerSettings(data_dir=data_dir, owner=OWNER), engine=docker_engine)
    runner.reap_orphans(OWNER)
    yield runner
    runner.reap_orphans(OWNER)


def grade(runner: DockerRunner, path: Path, question: str, data_dir: Path) -> tuple[RunOutcome, int]:
    run = runner.run(RunRequest(path, question, 0, LIMITS_FOR.get(path.name, LIMITS)))
    return run, score_attempt(get_question(question), 0, run, data_dir).points


def test_every_hostile_file_is_listed_with_its_docstring() -> None:
    assert sorted(p.name for p in HOSTILE.glob("*.py")) == sorted(EXPECTED)
    for name, (question, status, points) in EXPECTED.items():
        doc = (HOSTILE / name).read_text().split('"""')[1]
        assert doc.startswith(f"Expected: {question} {status}, {points} points"), name


@pytest.mark.docker
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_submission_is_contained(
    name: str, runner: DockerRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    question, status, points = EXPECTED[name]
    # A secret in the grading process's environment must never reach the student's code.
    monkeypatch.setenv("NNGRADE_TEST_SECRET", CANARY)
    with socket.create_server(("127.0.0.1", HOST_CANARY_PORT)) if name == "network.py" else _nothing():
        run, got_points = grade(runner, HOSTILE / name, question, data_dir)

    assert runner.engine().containers({SANDBOX_LABEL: "1", OWNER_LABEL: OWNER}) == [], "container left behind"
    assert run.runner == "docker" and run.image_digest and run.image_digest.startswith("sha256:")
    everything = json.dumps([run.log_excerpt, run.detail, run.observation], default=str)
    assert CANARY not in everything
    assert run.wall_s < LIMITS.kill_after_s + 10
    _check_findings(name, run.log_excerpt)
    assert (run.status, got_points) == (status, points), f"{run.status}: {run.detail}"

    after, after_points = grade(runner, NORMAL, "q1", data_dir)
    assert (after.status, after_points) == ("ok", 2), after.detail


def _check_findings(name: str, log: str) -> None:
    """What the probing files printed: every probe must have failed."""
    lines = [line for line in log.splitlines() if line.split(" ")[0].isupper()]
    if name == "network.py":
        assert "NET interfaces ['lo']" in lines and "NET proc ['lo']" in lines
        connects = [line for line in lines if line.startswith("NET connect")]
        assert len(connects) == 7 and not any("CONNECTED" in line for line in connects)
    elif name == "read_host.py":
        env = json.loads(next(line for line in lines if line.startswith("SNOOP env")).split(" ", 2)[2])
        assert set(env) <= {"HOME", "HOSTNAME", "LANG", "PATH", "TMPDIR", "MPLBACKEND", "OPENBLAS_NUM_THREADS",
                            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "OPENBLAS_CORETYPE",
                            "NPY_DISABLE_CPU_FEATURES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"}
        assert "SNOOP uid 10001 10001 [10001]" in lines
        assert "SNOOP submission ['models.py']" in lines
        assert not any("test_labels" in line or "private" in line.split(" ", 1)[1] for line in lines
                       if line.startswith("SNOOP data"))
        for path in ("/proc/1/environ", "/proc/1/fd", "/proc/1/mem", "/var/run/docker.sock", "/etc/shadow"):
            assert any(line.startswith(f"SNOOP {path} denied") for line in lines), path
    elif name == "write_outside_scratch.py":
        writes = [line for line in lines if line.startswith("WRITE")]
        assert writes[0] == "WRITE /tmp/ok.txt written"
        assert len(writes) == 12 and all(" denied " in line for line in writes[1:])
        assert any(line.startswith("EXEC /tmp/run.sh denied") for line in lines)
    elif name == "fill_scratch.py":
        sizes = [int(line.split()[2]) for line in lines if line.startswith("FILL")]
        assert len(sizes) == 2 and all(size <= LIMITS.scratch_mb for size in sizes)
    elif name == "find_labels.py":
        found = next(line for line in lines if line.startswith("LABELS"))
        assert "/data/train_labels.npy" in found and "test_labels" not in found
    elif name == "forge_result.py":
        assert "FORGE /proc/1/fd/1 denied PermissionError" in lines


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
