"""q2's integrity check through the real Docker sandbox (and the local runner): the cheats are graded as always and
flagged, an honest model is not, a model that will not predict the copy is flagged whatever it does instead,
and the copy is read-only for the student and gone with the attempt."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.config import AssignmentConfig
from grader.grading import grade_question
from grader.integrity import GAP_THRESHOLD
from grader.local_runner import LocalRunner
from grader.questions import get_question
from grader.report import Attempt
from grader.runs import Runner, RunRequest
from grader.scoring import score_attempt
from sandbox import DockerRunner, DockerSettings, SandboxLimits
from sandbox.engine import OWNER_LABEL, SANDBOX_LABEL, Engine
from sandbox.owner import owner_id

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "reference_solutions"
CHEATS = {name: case for name, case in json.loads((REFERENCE / "expected.json").read_text())["cheats"].items()
          if not name.startswith("_")}
OWNER = owner_id("pytest-integrity")
# The measured gaps of the cheats are 9 to 10 points (docs/INTEGRITY.md); far above the threshold.
CHEAT_MIN_GAP = 0.07

pytestmark = [pytest.mark.mnist, pytest.mark.slow]


@pytest.fixture(scope="module")
def docker(docker_engine: Engine, data_dir: Path) -> Iterator[DockerRunner]:
    runner = DockerRunner(DockerSettings(data_dir=data_dir, owner=OWNER), engine=docker_engine)
    runner.reap_orphans(OWNER)
    yield runner
    runner.reap_orphans(OWNER)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the runners make each attempt's directories (the copy among them), to see that none is left."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def counted_check(runner: Runner, path: Path, data_dir: Path) -> Attempt:
    result = grade_question(path, "q2", AssignmentConfig(questions=("q2",), seeds=(0, 1)), runner, data_dir)
    return result.counted


def test_every_cheat_is_listed_with_its_docstring() -> None:
    assert sorted(p.name for p in (REFERENCE / "cheats").glob("*.py")) == sorted(CHEATS)
    for name, case in CHEATS.items():
        doc = (REFERENCE / case["file"]).read_text().split('"""')[1]
        assert doc.startswith(f"Expected: q2 {case['outcome']}, {case['points']} points, flagged"), name


def test_the_cheats_carry_the_real_graded_labels(data_dir: Path) -> None:
    """Else they would not be cheats: their labels are the host's private ones."""
    import numpy as np

    labels = "".join(str(v) for v in np.load(data_dir / "private" / "test_labels.npy"))
    for case in CHEATS.values():
        assert labels in (REFERENCE / case["file"]).read_text().replace('"\n    "', "")


@pytest.mark.docker
@pytest.mark.parametrize("name", sorted(CHEATS))
def test_a_cheat_keeps_its_grade_and_is_flagged(name: str, docker: DockerRunner, data_dir: Path,
                                                scratch: Path) -> None:
    case = CHEATS[name]
    attempt = counted_check(docker, REFERENCE / case["file"], data_dir)
    assert (attempt.outcome, attempt.points, attempt.metric_value) == (case["outcome"], case["points"], 1.0)
    check = attempt.integrity
    assert check is not None and check.flagged is case["flagged"] and check.copy_status == "ok"
    assert check.gap is not None and check.gap > CHEAT_MIN_GAP > GAP_THRESHOLD
    assert check.copy["images"] == 5000 and len(check.copy["secret"]) == 32
    assert list(scratch.iterdir()) == [], "the attempt's copy or submission was left behind"
    assert docker.engine().containers({SANDBOX_LABEL: "1", OWNER_LABEL: OWNER}) == []


@pytest.mark.docker
def test_the_staff_solution_is_not_flagged(docker: DockerRunner, data_dir: Path, scratch: Path) -> None:
    attempt = counted_check(docker, REFERENCE / "staff" / "models.py", data_dir)
    assert attempt.outcome == "passed" and attempt.integrity is not None and not attempt.integrity.flagged
    assert attempt.integrity.gap is not None and abs(attempt.integrity.gap) < GAP_THRESHOLD / 3
    assert attempt.integrity.copy_cpu_s is not None and attempt.integrity.copy_cpu_s < 5
    assert list(scratch.iterdir()) == []


def test_the_local_runner_makes_the_same_check(data_dir: Path, scratch: Path) -> None:
    runner = LocalRunner(data_dir)
    cheat = counted_check(runner, REFERENCE / "cheats" / "lookup_bytes.py", data_dir)
    assert cheat.points == 6 and cheat.integrity is not None and cheat.integrity.flagged
    assert list(scratch.iterdir()) == []
    # The starter kit's case: scored on the validation images, where there is nothing to check.
    result = grade_question(REFERENCE / "cheats" / "lookup_bytes.py", "q2", AssignmentConfig(questions=("q2",)),
                            runner, data_dir, split="validation")
    assert all(a.integrity is None for a in result.attempts)


# A model that learns nothing, answers the graded images with what it is shown, and then misbehaves on anything
# else: the copy. MISBEHAVE is replaced by each case's statement.
REFUSER = '''
import os
import numpy as np
import nn


class DigitClassificationModel(object):
    def __init__(self):
        self.w = nn.Parameter(784, 10)
        self.graded = None

    def run(self, x):
        if self.graded is not None and x.data.shape[0] == 5000 and x.data is not self.graded:
            print("challenge:", sorted(os.listdir("/challenge")) if os.path.isdir("/challenge") else "absent")
            try:
                open(os.path.join(os.path.dirname(self.copy_path()), "copy.npy"), "ab").close()
                print("copy writable")
            except OSError as exc:
                print("copy not writable:", type(exc).__name__)
            MISBEHAVE
        return nn.Linear(x, self.w)

    def copy_path(self):
        return "/challenge/copy.npy" if os.path.isdir("/challenge") else "/nonexistent/copy.npy"

    def get_loss(self, x, y):
        return nn.SoftmaxLoss(self.run(x), y)

    def train(self, dataset):
        self.graded = dataset.test_images
'''
MISBEHAVIOURS = {
    "error": ("raise KeyError('unknown image')", "KeyError: 'unknown image'"),
    "crashed": ("os._exit(3)", "exit status 3"),
    "out_of_memory": ("hog = [np.ones(50 * 2 ** 20 // 8) for _ in range(400)]", "memory"),
    "failed_check": ("return nn.Linear(nn.Constant(x.data[:10]), self.w)", "5000x10"),
}


@pytest.mark.docker
@pytest.mark.parametrize("status", sorted(MISBEHAVIOURS))
def test_a_model_that_will_not_predict_the_copy_keeps_its_grade_and_is_flagged(
    status: str, docker: DockerRunner, data_dir: Path, scratch: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    statement, detail = MISBEHAVIOURS[status]
    path = tmp_path_factory.mktemp("refuser") / "models.py"
    path.write_text(REFUSER.replace("MISBEHAVE", statement))
    run = docker.run(RunRequest(path, "q2", 0, SandboxLimits(wall_s=120.0, memory_mb=1024)))
    attempt = score_attempt(get_question("q2"), 0, run, data_dir)
    # Graded on what it answered for the graded images, as without the check: 2 points, below the threshold.
    assert run.status == "ok" and (attempt.outcome, attempt.points) == ("below_threshold", 2)
    check = attempt.integrity
    assert check is not None and check.flagged and check.copy_status == status
    assert detail in check.copy_detail, check.copy_detail
    assert "challenge: ['copy.npy']" in run.log_excerpt and "copy not writable:" in run.log_excerpt
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("kind", [pytest.param("docker", marks=pytest.mark.docker), "local"])
def test_a_model_that_never_finishes_the_copy_is_stopped_on_the_graders_time(
    kind: str, request: pytest.FixtureRequest, data_dir: Path, tmp_path: Path
) -> None:
    """The copy's prediction gets its own allowance: the CPU budget, nearly spent, does not end the attempt (the
    cgroup's clock in Docker; RLIMIT_CPU, raised for the copy, and the process's clock in the local runner)."""
    path = tmp_path / "models.py"
    path.write_text(REFUSER.replace("MISBEHAVE", "while True: pass"))
    runner: Runner = request.getfixturevalue("docker") if kind == "docker" else LocalRunner(data_dir)
    run = runner.run(RunRequest(path, "q2", 0, SandboxLimits(wall_s=200.0, cpu_s=8.0, memory_mb=1024)))
    attempt = score_attempt(get_question("q2"), 0, run, data_dir)
    assert (attempt.outcome, attempt.points) == ("below_threshold", 2)
    assert attempt.integrity is not None and attempt.integrity.copy_status == "timeout"
    assert attempt.integrity.flagged and "CPU-time budget" in attempt.integrity.copy_detail
    # Well past the 8 s budget (the 30 s allowance, less what a busy host delays the harness's first reading of
    # the clock), and stopped long before the wall-clock backstop.
    assert 20 < run.cpu_s < 60 and run.wall_s < 120
