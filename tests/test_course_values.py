"""The sandbox runs the course's era stack and reproduces the course kit's q1 losses to the last bit.

reference_solutions/compat/ is the course's own set of compatibility cases with the losses the course's kit
computed for them on Python 3.9 and NumPy 1.22.4 (expected_course_values.json); every one is graded here
through the real Docker sandbox and compared with ==.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from grader.limits import Limits
from grader.questions import get_question
from grader.report import Attempt
from grader.runs import RunOutcome, RunRequest
from grader.scoring import score_attempt
from sandbox.engine import Engine
from sandbox.image import STACK_LABEL, expected_tag, stack
from sandbox.runner import DockerRunner, DockerSettings

COMPAT = Path(__file__).resolve().parent.parent / "reference_solutions" / "compat"
EXPECTED = json.loads((COMPAT / "expected_course_values.json").read_text())["files"]
THRESHOLD = 0.02
CASES = [(name, seed) for name in sorted(EXPECTED) for seed in (0, 1)]
LIMITS = Limits(wall_s=180.0, memory_mb=1024)


@pytest.fixture(scope="module")
def runner(docker_engine: Engine, data_dir: Path) -> Iterator[DockerRunner]:
    with DockerRunner(DockerSettings(data_dir=data_dir), engine=docker_engine) as docker_runner:
        yield docker_runner


def grade_q1(runner: DockerRunner, name: str, seed: int, data_dir: Path) -> tuple[RunOutcome, Attempt]:
    run = runner.run(RunRequest(COMPAT / name, "q1", seed, LIMITS))
    return run, score_attempt(get_question("q1"), seed, run, data_dir)


def test_the_compat_cases_are_the_course_files_byte_for_byte() -> None:
    names = sorted(p.name for p in COMPAT.iterdir())
    assert names == sorted([*EXPECTED, "README.md", "expected_course_values.json"])
    raw = (COMPAT / "bom_crlf.py").read_bytes()
    # Saved by a Windows editor: the byte-order mark and CRLF line endings are the point of the case.
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize(("name", "seed"), CASES)
def test_the_sandbox_computes_the_course_kits_loss_to_the_last_bit(
    runner: DockerRunner, data_dir: Path, name: str, seed: int
) -> None:
    """The model's own get_loss over dataset.x/dataset.y as train() left them, evaluated in the sandbox."""
    run = runner.run(RunRequest(COMPAT / name, "q1", seed, LIMITS))
    assert run.status == "ok" and run.observation is not None, run.detail
    assert run.versions is not None and run.versions[0].startswith("3.9.") and run.versions[1] == "1.22.4"
    final = run.observation["final"]
    assert final["status"] == "ok", final
    # SquareLoss is mean((a - b)² / 2): the course's 0.5 · mean((run(x) − y)²), bit for bit (halving is exact).
    assert final["evaluation"]["reported_loss"] == EXPECTED[name][f"q1_seed{seed}_loss"]


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize(("name", "seed"), CASES)
def test_the_graded_q1_loss_is_the_course_kits_to_the_last_bit(
    runner: DockerRunner, data_dir: Path, name: str, seed: int
) -> None:
    _, attempt = grade_q1(runner, name, seed, data_dir)
    expected = EXPECTED[name][f"q1_seed{seed}_loss"]
    assert attempt.metric_value == expected, f"{attempt.outcome}: {attempt.detail}"
    passed = expected <= THRESHOLD
    assert (attempt.outcome, attempt.points) == (("passed", 6) if passed else ("below_threshold", 2))


@pytest.mark.docker
@pytest.mark.slow
def test_removed_names_and_modules_work_natively_with_their_warnings_shown(
    runner: DockerRunner, data_dir: Path
) -> None:
    _, removed = grade_q1(runner, "removed_numpy_names.py", 0, data_dir)
    assert removed.outcome == "passed" and removed.error is None
    log = removed.log_excerpt
    for name in ("np.asscalar(a) is deprecated", "`np.int` is a deprecated alias", "`np.float` is a deprecated"):
        assert f"DeprecationWarning: {name}" in log
    # Shown once per place in the file, however many times the training loop calls it.
    assert log.count("np.asscalar(a) is deprecated") == 1
    _, stray = grade_q1(runner, "stray_imports.py", 0, data_dir)
    assert stray.outcome == "passed"
    assert "DeprecationWarning: The symbol module is deprecated" in stray.log_excerpt
    # `symbol` is there on 3.9; turtle (no Tk) and click are not, and the student is told so.
    assert list(stray.warnings) == [
        "line 5 imports `turtle`, which is not available here (it needs `tkinter`); unused, so ignored",
        "line 6 imports `click`, which is not available here; unused, so ignored",
    ]


@pytest.mark.docker
@pytest.mark.slow
def test_the_image_runs_exactly_the_locked_stack(runner: DockerRunner, docker_engine: Engine, data_dir: Path) -> None:
    locked = stack.locked_versions()
    labels = docker_engine.image_labels(expected_tag())
    assert labels[STACK_LABEL] == " ".join(f"{name}=={version}" for name, version in sorted(locked.items()))
    run, _ = grade_q1(runner, "control_plain.py", 0, data_dir)
    # Reported by the harness from the installed package's metadata inside the sandbox.
    assert run.versions is not None
    python, numpy = run.versions
    assert python.startswith("3.9.") and numpy == locked["numpy"]


def test_the_stack_lock_agrees_with_its_project() -> None:
    """`uv lock --check` fails when stack/pyproject.toml and stack/uv.lock disagree (offline: no upstream)."""
    done = subprocess.run(
        [sys.executable, "-m", "uv", "lock", "--check", "--offline", "--no-python-downloads",
         "--python", sys.executable, "--project", str(stack.STACK_DIR)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert stack.locked_versions() == {"numpy": "1.22.4"}


def test_the_regression_dataset_trains_on_the_era_targets() -> None:
    """y is the table of the era's sin values in x's shuffled order, a few ulp from any libm's sin(x)."""
    from grader.kit import import_kit

    _, backend = import_kit()
    dataset = backend.RegressionDataset(model=None)
    points = np.expand_dims(np.linspace(-2 * np.pi, 2 * np.pi, num=200), axis=1)
    order = np.arange(200)
    np.random.RandomState(0).shuffle(order)
    assert np.array_equal(dataset.x, points[order])
    assert np.array_equal(dataset.y, backend.regression_targets()[order])
    assert np.all(np.abs(dataset.y - np.sin(dataset.x)) <= 4 * np.spacing(np.abs(np.sin(dataset.x))))


@pytest.mark.docker
def test_the_targets_table_is_numpy_1_22_sin_on_avx512(docker_engine: Engine) -> None:
    """Where this CPU has AVX-512, the sandbox's NumPy with its AVX-512 code recomputes the table exactly."""
    from grader.kit import import_kit

    _, backend = import_kit()
    probe = (
        "import numpy as np; from numpy.core._multiarray_umath import __cpu_features__ as f; "
        "print(int(f['AVX512_SKX'])); "
        "print(' '.join(float(v).hex() for v in np.sin(np.linspace(-2*np.pi, 2*np.pi, num=200))))"
    )
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-e", "NPY_DISABLE_CPU_FEATURES=", expected_tag(),
         "python3", "-c", probe],
        capture_output=True, text=True, check=True, timeout=120,
    )
    has_avx512, values = done.stdout.splitlines()
    if has_avx512 != "1":
        pytest.skip("this CPU has no AVX-512: NumPy 1.22.4 cannot recompute the course's targets here")
    assert [float.fromhex(v) for v in values.split()] == backend.regression_targets().ravel().tolist()
