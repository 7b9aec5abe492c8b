"""Faults that are never the student's, and the CPU-time budget, through the harness and the local runner.

The harness checks the kit and the data before any student code runs; what fails there is reported as a
harness fault (infrastructure_error), and a student cannot forge one afterwards. Time limits are CPU
seconds counted from the student's first line, with the wall clock as a backstop.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader import mnist
from grader.cpu_clocks import cgroup_clock
from grader.harness import bootstrap_command
from grader.limits import Limits, wall_backstop_s
from grader.local_runner import CORE_ROOT, LocalRunner
from grader.protocol import HarnessStream, RunFacts, classify_run
from grader.questions import get_question
from grader.runs import RunRequest
from grader.scoring import score_attempt
from grader.wire import stamp
from sandbox.owner import owner_id

REPO = Path(__file__).resolve().parent.parent
STAFF = REPO / "reference_solutions" / "staff" / "models.py"
NO_TRAINING = REPO / "reference_solutions" / "broken" / "no_training.py"

BUSY_TRAIN = """
import nn

class RegressionModel(object):
    def __init__(self):
        self.w = nn.Parameter(1, 1)

    def run(self, x):
        return nn.Linear(x, self.w)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
{body}
"""


def model_with_train(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "models.py"
    path.write_text(BUSY_TRAIN.format(body=textwrap.indent(textwrap.dedent(body).strip() + "\n", " " * 8)))
    return path


def broken_cache(tmp_path: Path, data_dir: Path, damage: str) -> Path:
    """A copy of the MNIST cache (big files linked, not copied) with one public file damaged."""
    copy = tmp_path / "data"
    (copy / "public").mkdir(parents=True)
    (copy / "private").mkdir()
    shutil.copy(data_dir / mnist.MANIFEST, copy / mnist.MANIFEST)
    shutil.copy(data_dir / mnist.TEST_LABELS, copy / mnist.TEST_LABELS)
    for rel in mnist.PUBLIC_FILES:
        (copy / rel).symlink_to(data_dir / rel)
    victim = copy / mnist.DEV_IMAGES
    victim.unlink()
    if damage == "truncated":
        with open(data_dir / mnist.DEV_IMAGES, "rb") as f:
            victim.write_bytes(f.read(1_000_000))
    elif damage == "garbage":
        victim.write_bytes(b"not a numpy file" * 1000)
    # "missing": leave it out
    return copy


# -- the harness's own checks ------------------------------------------------------------------------


@pytest.mark.mnist
@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_bad_mnist_data_is_a_harness_fault_never_the_students(tmp_path: Path, data_dir: Path, damage: str) -> None:
    runner = LocalRunner(broken_cache(tmp_path, data_dir, damage))
    run = runner.run(RunRequest(STAFF, "q2", 0, Limits(wall_s=60.0)))
    assert run.status == "infrastructure_error", run.detail
    assert "before running the submission (data:" in run.detail and "dev_images.npy" in run.detail
    attempt = score_attempt(get_question("q2"), 0, run, data_dir)
    assert attempt.outcome == "infrastructure_error" and attempt.error is None
    assert "crashed" not in attempt.detail and "exit()" not in attempt.detail


@pytest.mark.mnist
def test_q1_does_not_need_mnist(tmp_path: Path, data_dir: Path) -> None:
    runner = LocalRunner(broken_cache(tmp_path, data_dir, "missing"))
    run = runner.run(RunRequest(NO_TRAINING, "q1", 0, Limits(wall_s=30.0)))
    assert run.status == "ok", run.detail


def run_harness(job: dict[str, object]) -> HarnessStream:
    completed = subprocess.run(bootstrap_command(sys.executable, CORE_ROOT), input=json.dumps(job).encode(),
                               capture_output=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})
    stream = HarnessStream()
    stream.feed(completed.stdout)
    stream.close()
    return stream


def test_a_failure_while_preparing_the_child_is_a_harness_fault(tmp_path: Path) -> None:
    (tmp_path / "submission").mkdir()
    shutil.copy(NO_TRAINING, tmp_path / "submission" / "models.py")
    job = stamp("job", {
        "question": "q1", "seed": 0, "split": "test", "submission_dir": str(tmp_path / "submission"),
        "data_dir": str(tmp_path), "scratch_dir": str(tmp_path / "no-such-scratch"), "wall_s": 30.0, "cpu_s": 30.0,
        "cpu_clock": "process", "memory_mb": 1024, "output_bytes": 1 << 20})
    stream = run_harness(job)
    assert stream.violation is None and stream.result is not None
    assert stream.result["harness_fault"]["stage"] == "setup"
    assert "no-such-scratch" in stream.result["harness_fault"]["message"]
    outcome = classify_run(stream, RunFacts(runner="local", wall_s=1.0, exit_code=0))
    assert outcome.status == "infrastructure_error"
    assert "do not call exit()" not in outcome.detail


def test_an_unknown_question_is_a_harness_fault(tmp_path: Path) -> None:
    (tmp_path / "scratch").mkdir()
    job = stamp("job", {"question": "q9", "seed": 0, "split": "test", "submission_dir": str(tmp_path),
                        "data_dir": str(tmp_path), "scratch_dir": str(tmp_path / "scratch"), "wall_s": 30.0,
                        "memory_mb": 1024, "output_bytes": 1 << 20})
    stream = run_harness(job)
    assert stream.result is not None and stream.result["harness_fault"]["stage"] == "kit"
    assert classify_run(stream, RunFacts(runner="local", wall_s=1.0, exit_code=0)).status == "infrastructure_error"


def test_student_code_cannot_forge_a_harness_fault(tmp_path: Path, local_runner: LocalRunner, data_dir: Path) -> None:
    body = """
    import os, stat
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        try:
            if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, b'{"kind": "harness_fault", "stage": "data", "message": "please retry me"}\\n')
        except OSError:
            pass
    """
    run = local_runner.run(RunRequest(model_with_train(tmp_path, body), "q1", 0, Limits(wall_s=30.0)))
    assert run.status == "bad_output", run.detail
    assert score_attempt(get_question("q1"), 0, run, data_dir).points == 0


# -- the CPU-time budget -----------------------------------------------------------------------------


def test_cpu_budget_stops_a_busy_student_and_says_so(tmp_path: Path, local_runner: LocalRunner) -> None:
    model = model_with_train(tmp_path, "while True:\n    pass")
    run = local_runner.run(RunRequest(model, "q1", 0, Limits(cpu_s=1.0, wall_s=60.0)))
    assert run.status == "timeout" and "CPU-time budget (1 s)" in run.detail, run.detail
    assert run.observation is not None and run.observation["terminated"] == "cpu_limit"
    assert 0.9 <= run.cpu_s <= 3.5
    assert (run.cpu_limit_s, run.wall_limit_s) == (1.0, 60.0)


def test_a_sleeping_student_meets_the_wall_backstop(tmp_path: Path, local_runner: LocalRunner,
                                                   data_dir: Path) -> None:
    model = model_with_train(tmp_path, "import time\ntime.sleep(60)")
    run = local_runner.run(RunRequest(model, "q1", 0, Limits(cpu_s=30.0, wall_s=1.5)))
    assert run.status == "timeout" and "wall-clock limit of 1.5 s" in run.detail, run.detail
    attempt = score_attempt(get_question("q1"), 0, run, data_dir)
    assert (attempt.outcome, attempt.cpu_limit_s, attempt.wall_limit_s) == ("timeout", 30.0, 1.5)
    assert attempt.cpu_s < 1.0


def test_a_forked_child_ignoring_sigxcpu_is_still_stopped(tmp_path: Path, local_runner: LocalRunner) -> None:
    body = """
    import signal
    signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    while True:
        pass
    """
    run = local_runner.run(RunRequest(model_with_train(tmp_path, body), "q1", 0, Limits(cpu_s=1.0, wall_s=60.0)))
    assert run.status == "timeout" and "CPU-time budget" in run.detail, run.detail


def test_wall_backstop_follows_the_budget() -> None:
    assert wall_backstop_s(180.0) == 360.0 and wall_backstop_s(10.0) == 70.0
    limits = Limits.for_cpu_s(600.0)
    assert (limits.cpu_s, limits.wall_s) == (600.0, 1200.0)


@pytest.mark.parametrize(
    ("files", "expected_s"),
    [
        ({"sys/fs/cgroup/cpuacct/cpuacct.usage": "2500000000\n"}, 2.5),
        ({"sys/fs/cgroup/cpu,cpuacct/cpuacct.usage": "1000000000\n"}, 1.0),
        ({"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.stat": "usage_usec 4200000\nuser_usec 1\n"}, 4.2),
        ({"proc/self/cgroup": "0::/box\n", "sys/fs/cgroup/box/cpu.stat": "usage_usec 1500000\n"}, 1.5),
    ],
)
def test_cgroup_clock_reads_v1_and_v2(tmp_path: Path, files: dict[str, str], expected_s: float) -> None:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    clock = cgroup_clock(str(tmp_path))
    assert clock is not None and clock.name == "cgroup"
    assert clock.read() == pytest.approx(expected_s)


def test_no_cgroup_means_no_cgroup_clock(tmp_path: Path) -> None:
    assert cgroup_clock(str(tmp_path)) is None


# -- through the Docker sandbox ----------------------------------------------------------------------

DOCKER_OWNER = owner_id("pytest-attribution")  # unique: other test runs share the engine


@pytest.fixture(scope="module")
def docker_runner(docker_engine: object, data_dir: Path) -> object:
    from sandbox import DockerRunner, DockerSettings

    runner = DockerRunner(DockerSettings(data_dir=data_dir, owner=DOCKER_OWNER), engine=docker_engine)  # type: ignore[arg-type]
    yield runner
    assert runner.reap_orphans(DOCKER_OWNER) == 0, "a test left a sandbox container behind"


@pytest.mark.docker
def test_the_container_cgroup_is_the_cpu_clock(tmp_path: Path, docker_runner: object) -> None:
    model = model_with_train(tmp_path, "while True:\n    pass")
    run = docker_runner.run(RunRequest(model, "q1", 0, Limits(cpu_s=2.0, wall_s=60.0)))  # type: ignore[attr-defined]
    assert run.status == "timeout" and "CPU-time budget (2 s)" in run.detail, run.detail
    assert run.observation is not None and run.observation["cpu_clock"] == "cgroup"
    assert 1.9 <= run.cpu_s <= 3.0


@pytest.mark.docker
def test_threads_and_processes_all_count_in_the_cgroup(tmp_path: Path, docker_runner: object) -> None:
    body = """
    import os
    for _ in range(3):
        if os.fork() == 0:
            break
    while True:
        pass
    """
    model = model_with_train(tmp_path, body)
    run = docker_runner.run(RunRequest(model, "q1", 0, Limits(cpu_s=2.0, wall_s=60.0)))  # type: ignore[attr-defined]
    assert run.status == "timeout" and "CPU-time budget" in run.detail, run.detail
    assert 1.9 <= run.cpu_s <= 3.5


def tiny_cache(root: Path) -> Path:
    """A well-formed miniature cache (ten images per file) whose manifest matches it: cheap to copy around."""
    import numpy as np

    (root / "public").mkdir(parents=True)
    files = {}
    for rel in mnist.PUBLIC_FILES:
        array = np.zeros((10, mnist.PIXELS)) if "images" in rel else np.zeros(10, dtype=np.uint8)
        np.save(root / rel, array)
        files[rel] = {"bytes": (root / rel).stat().st_size}
    (root / mnist.MANIFEST).write_text(json.dumps({"files": files}))
    for path in (root, root / "public", *(root / "public").iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


@pytest.mark.docker
def test_corrupt_data_in_the_sandbox_is_an_infrastructure_error(tmp_path: Path, docker_engine: object) -> None:
    from sandbox import DockerRunner, DockerSettings

    tmp_path.chmod(0o755)
    cache = tiny_cache(tmp_path / "data")
    victim = cache / mnist.DEV_IMAGES
    victim.write_bytes(victim.read_bytes()[:1000])
    runner = DockerRunner(DockerSettings(data_dir=cache, owner=DOCKER_OWNER), engine=docker_engine)  # type: ignore[arg-type]
    run = runner.run(RunRequest(STAFF, "q2", 0, Limits(wall_s=60.0)))
    assert run.status == "infrastructure_error" and "dev_images.npy" in run.detail, run.detail
    assert "(data:" in run.detail
    assert runner.reap_orphans(DOCKER_OWNER) == 0


@pytest.mark.docker
@pytest.mark.parametrize("how", ["kill", "remove"])
def test_a_sandbox_stopped_from_outside_is_not_the_students_fault(tmp_path: Path, docker_runner: object,
                                                                  data_dir: Path, how: str) -> None:
    import threading
    import time

    from sandbox.engine import OWNER_LABEL, SANDBOX_LABEL

    engine = docker_runner.engine()  # type: ignore[attr-defined]
    model = model_with_train(tmp_path, "import time\ntime.sleep(60)")
    outcomes: list[object] = []
    worker = threading.Thread(target=lambda: outcomes.append(docker_runner.run(  # type: ignore[attr-defined]
        RunRequest(model, "q1", 0, Limits(cpu_s=30.0, wall_s=60.0)))))
    worker.start()
    deadline = time.monotonic() + 30
    running: list[str] = []
    while not running and time.monotonic() < deadline:
        running = [c.id for c in engine.containers_info({SANDBOX_LABEL: "1", OWNER_LABEL: DOCKER_OWNER})
                   if c.running]
        time.sleep(0.2)
    assert running, "the sandbox never started"
    time.sleep(1.0)  # into the student's code
    if how == "kill":
        engine.kill(running[0])
    else:
        engine.remove(running[0])
    worker.join(timeout=60)
    run = outcomes[0]
    assert run.status == "infrastructure_error", run.detail  # type: ignore[attr-defined]
    assert "from outside" in run.detail or "Docker engine" in run.detail  # type: ignore[attr-defined]
    attempt = score_attempt(get_question("q1"), 0, run, data_dir)  # type: ignore[arg-type]
    assert attempt.outcome == "infrastructure_error" and attempt.points == 0
