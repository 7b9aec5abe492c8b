"""The harness under the local runner: limits, early exits and a student trying to fake the channel."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.limits import Limits
from grader.local_runner import LocalRunner
from grader.protocol import build_job
from grader.questions import get_question
from grader.runs import RunRequest
from grader.scoring import score_attempt
from grader.wire import PROTOCOL_VERSION

HONEST_MODEL = """
import nn

class RegressionModel(object):
    def __init__(self):
        self.w = nn.Parameter(1, 1)
        self.b = nn.Parameter(1, 1)

    def run(self, x):
        return nn.AddBias(nn.Linear(x, self.w), self.b)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
{train}
"""


def submission(tmp_path: Path, train_body: str, prelude: str = "") -> Path:
    path = tmp_path / "models.py"
    body = textwrap.indent(textwrap.dedent(train_body).strip() + "\n", " " * 8)
    path.write_text(textwrap.dedent(prelude) + HONEST_MODEL.format(train=body))
    return path


def grade(runner: LocalRunner, path: Path, data_dir: Path, wall_s: float = 10.0):  # type: ignore[no-untyped-def]
    run = runner.run(RunRequest(path, "q1", 0, Limits(wall_s=wall_s, memory_mb=1024)))
    return run, score_attempt(get_question("q1"), 0, run, data_dir)


def test_printing_a_fake_result_line_only_reaches_the_log(
    tmp_path: Path, local_runner: LocalRunner, data_dir: Path
) -> None:
    fake = '{"type": "result", "final": {"status": "ok"}, "sanity_passed": true}'
    run, attempt = grade(local_runner, submission(tmp_path, f"print({fake!r})"), data_dir)
    assert run.status == "ok" and attempt.outcome == "below_threshold"
    assert fake in attempt.log_excerpt


def test_writing_garbage_into_the_grading_channel_earns_nothing(
    tmp_path: Path, local_runner: LocalRunner, data_dir: Path
) -> None:
    body = """
    import os, stat
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        try:
            if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, b'{"kind": "final", "status": "ok", "evaluation": {}}\\n garbage\\n')
        except OSError:
            pass
    """
    run, attempt = grade(local_runner, submission(tmp_path, body), data_dir)
    assert run.status == "bad_output" and attempt.outcome == "bad_output"
    assert attempt.points == 0


@pytest.mark.parametrize(
    ("body", "outcome", "detail"),
    [
        ("import os\nos._exit(0)", "crashed", "exit status 0"),
        ("import ctypes\nctypes.string_at(0)", "crashed", "SIGSEGV"),
        ("import sys\nsys.exit(3)", "error", "SystemExit"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "crashed", "SIGKILL"),
    ],
)
def test_ways_of_dying_are_named(
    body: str, outcome: str, detail: str, tmp_path: Path, local_runner: LocalRunner, data_dir: Path
) -> None:
    _, attempt = grade(local_runner, submission(tmp_path, body), data_dir)
    assert attempt.outcome == outcome and detail in attempt.detail
    # The sanity checks passed before train() misbehaved, and those points stand.
    assert attempt.points == 2


def test_a_stopped_harness_is_killed_from_outside_with_its_student_process(
    tmp_path: Path, local_runner: LocalRunner, data_dir: Path
) -> None:
    marker = tmp_path / "still-running"
    body = f"""
    import os, signal, time
    os.kill(os.getppid(), signal.SIGSTOP)
    while True:
        open({str(marker)!r}, "w").close()
        time.sleep(0.1)
    """
    run, attempt = grade(local_runner, submission(tmp_path, body), data_dir, wall_s=1.0)
    assert run.status == "timeout" and attempt.outcome == "timeout" and attempt.points == 0
    marker.unlink()
    import time

    time.sleep(0.5)
    assert not marker.exists(), "the student's process outlived the attempt"


def test_environment_and_host_paths_are_not_handed_to_student_code(
    tmp_path: Path, local_runner: LocalRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NNGRADE_SECRET_KEY", "canary-secret-value")
    body = """
    import os, sys
    print(sorted(os.environ.items()))
    print(os.getcwd(), sys.path)
    """
    _, attempt = grade(local_runner, submission(tmp_path, body), data_dir)
    assert "canary-secret-value" not in attempt.log_excerpt
    assert "private" not in attempt.log_excerpt


def test_plotting_code_left_in_models_py_runs_headless(
    tmp_path: Path, local_runner: LocalRunner, data_dir: Path
) -> None:
    prelude = """
    import matplotlib
    matplotlib.use("TkAgg")
    import matplotlib.pyplot as plt
    from matplotlib import animation
    """
    body = """
    fig, ax = plt.subplots()
    ax.plot(dataset.x[dataset.argsort_x], dataset.y[dataset.argsort_x], "b-")
    plt.show(block=False)
    plt.pause(0.01)
    animation.FuncAnimation(fig, lambda frame: None)
    print("plotted")
    """
    run, attempt = grade(local_runner, submission(tmp_path, body, prelude), data_dir)
    assert run.status == "ok" and attempt.outcome == "below_threshold" and attempt.points == 2
    assert "plotted" in attempt.log_excerpt


@pytest.mark.parametrize(
    ("prelude", "body", "stage", "sanity_passed"),
    [
        ("import time\ntime.sleep(60)\n", "pass", "import", False),
        ("", "while True:\n    pass", "train", True),
        ("", "pass", "done", True),
    ],
)
def test_the_host_knows_which_stage_an_attempt_ended_in(
    prelude: str, body: str, stage: str, sanity_passed: bool, tmp_path: Path, local_runner: LocalRunner,
    data_dir: Path,
) -> None:
    _, attempt = grade(local_runner, submission(tmp_path, body, prelude), data_dir, wall_s=3.0)
    assert (attempt.stage, attempt.sanity_passed, attempt.loss_node) == (
        stage, sanity_passed, "SquareLoss" if sanity_passed else None)


def test_stages_reported_out_of_order_are_tampering(tmp_path: Path, local_runner: LocalRunner, data_dir: Path) -> None:
    body = """
    import json, os, stat
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        try:
            if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, (json.dumps({"kind": "stage", "stage": "imported"}) + "\\n").encode())
        except OSError:
            pass
    """
    run, attempt = grade(local_runner, submission(tmp_path, body), data_dir)
    assert run.status == "bad_output" and attempt.points == 0


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"version": PROTOCOL_VERSION + 1}, "infrastructure_error", "protocol version"),
        ({"memory_mb": "lots"}, "infrastructure_error", "field 'memory_mb' must be an integer"),
        ({}, "ok", "The grader finished."),
    ],
)
def test_the_harness_refuses_a_job_it_does_not_understand_as_our_fault(
    tmp_path: Path, local_runner: LocalRunner, change: dict[str, object], status: str, detail: str
) -> None:
    """The real harness process on a mis-versioned or malformed job: it never starts, and the host says it is ours."""
    path = submission(tmp_path, "pass")
    request = RunRequest(path, "q1", 0, Limits(wall_s=10.0, memory_mb=1024))
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "models.py").write_text(path.read_text())
    job = json.loads(build_job(request, submission_dir=str(tmp_path / "submission"), data_dir=str(tmp_path),
                               scratch_dir=str(tmp_path), cpu_clock="process"))
    run = local_runner._supervise(request, json.dumps({**job, **change}).encode(), {"HOME": str(tmp_path)}, tmp_path,
                                  None)
    assert run.status == status and detail in run.detail
    assert run.versions is None if change else run.versions is not None


def test_the_harness_loads_without_numpy() -> None:
    """PID 1 of the sandbox parses the job and validates messages with the standard library alone."""
    root = Path(__file__).resolve().parent.parent
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import grader.harness; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy'))")
    done = subprocess.run([sys.executable, "-I", "-c", code, str(root)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
