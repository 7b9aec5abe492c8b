"""The staff solution's whole grade (q1 + q2) per runner, against a numpy floor in this process.

    .venv/bin/python bench/bench_grade.py [--repeat 3] [--runners docker,local] [--image TAG | --era]
        [--env NAME=VALUE ...]

The floor trains the staff solution's two networks in hand-written numpy (bench/nn_workloads.py's
floor: the same initial draws from the same seed, the same steps and learning rates, every loss and
accuracy the solution reads, the finiteness check of every update) for the epochs the graded attempt
reported, with no grader, process or container around it; its final q1 loss must equal the graded one
bit for bit, which shows it did the same work. Each round grades once per runner and runs the floor
once, back to back, so ratios compare neighbours in time. --env adds variables to the sandbox's
environment (the Docker runner's container spec) for this run, e.g. allocator settings; the caller's
OPENBLAS_CORETYPE, if set, is passed on too, so that the sandbox and the floor run one BLAS kernel.
--era grades in bench/era_stack.py's sandbox image (Python 3.9, numpy 1.22.4, this checkout's grader/).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import nn_workloads  # noqa: E402

from grader.config import AssignmentConfig  # noqa: E402
from grader.grading import grade_submission  # noqa: E402
from grader.report import Report  # noqa: E402

STAFF = REPO / "reference_solutions" / "staff" / "models.py"
Q1_HIDDEN, Q1_BATCH, Q1_STEPS_PER_EPOCH = 64, 20, 10
Q2_STEPS_PER_EPOCH = 600


def make_runner(kind: str, data_dir: Path, image: str | None, extra_env: dict[str, str]) -> Any:
    if kind == "local":
        from grader.local_runner import LocalRunner

        return LocalRunner(data_dir)
    from sandbox.runner import DockerRunner, DockerSettings

    runner = DockerRunner(DockerSettings(data_dir=data_dir, image=image))
    if extra_env:
        base_spec = runner._spec

        def spec_with_env(*args: Any, **kwargs: Any) -> Any:
            spec = base_spec(*args, **kwargs)
            spec.environment.update(extra_env)
            return spec

        runner._spec = spec_with_env  # type: ignore[method-assign]
    return runner


def floor(report: Report, data_dir: Path) -> tuple[float, float, float]:
    """Wall and CPU seconds for the staff solution's training in plain numpy; and its final q1 loss."""
    questions = {q.question: q for q in report.questions}
    q1, q2 = questions["q1"], questions["q2"]
    q1_attempt, q2_attempt = q1.attempts[q1.counted_attempt], q2.attempts[q2.counted_attempt]
    public = data_dir / "public"
    x = np.expand_dims(np.linspace(-2 * np.pi, 2 * np.pi, num=200), axis=1)
    np.random.RandomState(0).shuffle(x)
    y = np.sin(x)
    images = np.load(public / "train_images.npy", mmap_mode="c")
    train_labels = np.load(public / "train_labels.npy")
    labels = np.zeros((train_labels.shape[0], 10))
    labels[np.arange(train_labels.shape[0]), train_labels] = 1
    dev_images = np.load(public / "dev_images.npy", mmap_mode="c")
    dev_labels = np.load(public / "dev_labels.npy")
    started, cpu_started = time.perf_counter(), time.process_time()
    np.random.seed(q1_attempt.seed)
    _, losses = nn_workloads.floor_q1(np, x, y, (q1_attempt.epochs or 0) * Q1_STEPS_PER_EPOCH, Q1_HIDDEN, Q1_BATCH)
    np.random.seed(q2_attempt.seed)
    nn_workloads.floor_q2(np, images, labels, dev_images, dev_labels, (q2_attempt.epochs or 0) * Q2_STEPS_PER_EPOCH)
    return time.perf_counter() - started, time.process_time() - cpu_started, losses[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runners", default="docker,local")
    parser.add_argument("--image", default=None, help="sandbox image (default: this checkout's)")
    parser.add_argument("--era", action="store_true", help="grade in the era-stack sandbox image")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the sandbox environment")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NNGRADE_DATA_DIR", REPO / "var/data")))
    args = parser.parse_args()
    if args.era:
        import era_stack

        args.image = era_stack.ensure_sandbox()
    extra_env = dict(item.split("=", 1) for item in args.env)
    if os.environ.get("OPENBLAS_CORETYPE"):  # the floor runs here: same BLAS kernel, same bits
        extra_env.setdefault("OPENBLAS_CORETYPE", os.environ["OPENBLAS_CORETYPE"])
    config = AssignmentConfig()
    kinds = [kind for kind in args.runners.split(",") if kind]
    rounds: list[dict[str, Any]] = []
    for _ in range(args.repeat):
        result: dict[str, Any] = {}
        for kind in kinds:
            runner = make_runner(kind, args.data_dir, args.image, extra_env)
            started = time.perf_counter()
            report = grade_submission(STAFF, config, runner, args.data_dir)
            result[kind] = time.perf_counter() - started
            assert report.total_points == 12, f"{kind}: staff solution scored {report.total_points}/12"
            attempts = [q.attempts[q.counted_attempt] for q in report.questions]
            result[kind + " cpu"] = sum(a.cpu_s for a in attempts)
            result[kind + " attempt wall"] = sum(a.wall_s for a in attempts)
            result["report"] = report
        result["floor"], result["floor cpu"], floor_loss = floor(result["report"], args.data_dir)
        q1 = next(q for q in result["report"].questions if q.question == "q1")
        result["same q1 loss"] = floor_loss == q1.metric_value
        result["losses"] = (floor_loss, q1.metric_value)
        rounds.append(result)
        print("round: " + ", ".join(f"{k} {v:.2f}" for k, v in result.items() if isinstance(v, float)), flush=True)
    last: Report = rounds[-1]["report"]
    with open("/proc/loadavg") as handle:
        load = " ".join(handle.read().split()[:3])
    print(f"staff solution, q1+q2, {args.repeat} rounds; epochs "
          + ", ".join(f"{q.question} {q.attempts[q.counted_attempt].epochs}" for q in last.questions)
          + f"; {last.environment.runner} python {last.environment.python_version}, numpy "
          f"{last.environment.numpy_version}; sandbox env {extra_env or 'as the runner sets it'}; load {load}")
    print(f"{'what':<30}{'median s':>10}{'vs floor':>10}")
    for name in [*kinds, *(k + " attempt wall" for k in kinds), "floor", *(k + " cpu" for k in kinds), "floor cpu"]:
        values = [r[name] for r in rounds]
        base = "floor cpu" if name.endswith("cpu") else "floor"
        ratio = statistics.median(r[name] / r[base] for r in rounds)
        print(f"{name:<30}{statistics.median(values):>10.2f}{ratio:>9.2f}x")
    print(f"floor's final q1 loss equals the graded one bit for bit: {all(r['same q1 loss'] for r in rounds)} "
          f"{rounds[-1]['losses']}")
    print("wall: the grade as the host sees it, against the floor's wall time; cpu: the attempts' own CPU "
          "(the student's process in the sandbox), against the floor's")


if __name__ == "__main__":
    main()
