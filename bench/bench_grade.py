"""The staff solution's whole grade (q1 + q2) per runner, against a plain-numpy floor in one process.

    .venv/bin/python bench/bench_grade.py [--repeat 3] [--runners docker,local] [--image TAG] [--floor-here]
        [--env NAME=VALUE ...] [--unset NAME ...] [--baseline-image TAG]

The floor trains the staff solution's two networks in hand-written numpy (bench/nn_workloads.py's
floor: the same initial draws from the same seed, the same steps and learning rates, every loss and
accuracy the solution reads, the finiteness check of every update) for the epochs the graded attempt
reported, timed inside one process with no grader and no container around the loops, with the
sandbox's environment (allocator, pinned kernels, BLAS threads), in the era stack's container
(bench/era_stack.py: the sandbox's Python 3.9 and numpy 1.22.4) unless --floor-here; there its final q1
loss equals the graded one bit for bit, which shows it did the same work.
Each round grades once per runner and runs the floor once, back to back, so ratios compare neighbours in
time. --env adds variables to the sandbox's
environment (the Docker runner's container spec) for this run, e.g. allocator settings; the floor gets
the same environment, pinned kernels included, so both compute the same bits. --baseline-image adds a
runner, "base", that grades in another sandbox image (e.g. one built from the commit before a change) in
the same rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from grader.config import AssignmentConfig  # noqa: E402
from grader.grading import grade_submission  # noqa: E402
from grader.report import Report  # noqa: E402

STAFF = REPO / "reference_solutions" / "staff" / "models.py"


def make_runner(kind: str, data_dir: Path, image: str | None, extra_env: dict[str, str], unset: list[str]) -> Any:
    if kind == "local":
        from grader.local_runner import LocalRunner

        return LocalRunner(data_dir)
    from sandbox.runner import DockerRunner, DockerSettings

    runner = DockerRunner(DockerSettings(data_dir=data_dir, image=image))
    if extra_env or unset:
        base_spec = runner._spec

        def spec_with_env(*args: Any, **kwargs: Any) -> Any:
            spec = base_spec(*args, **kwargs)
            spec.environment.update(extra_env)
            for name in unset:
                spec.environment.pop(name, None)
            return spec

        runner._spec = spec_with_env  # type: ignore[method-assign]
    return runner


def sandbox_environment(data_dir: Path, extra_env: dict[str, str], unset: list[str]) -> dict[str, str]:
    """The environment the Docker runner gives an attempt (allocator settings included), as adjusted."""
    from grader.limits import Limits
    from sandbox.limits import SandboxLimits
    from sandbox.runner import DockerRunner, DockerSettings

    runner = make_runner("docker", data_dir, "unused", extra_env, unset)
    environment: dict[str, str] = runner._spec(SandboxLimits.from_limits(Limits()), Path("/tmp")).environment
    assert isinstance(runner, DockerRunner) and isinstance(runner.settings, DockerSettings)
    return environment


def floor(report: Report, data_dir: Path, environment: dict[str, str], era_image: str | None) -> tuple[float, ...]:
    """The staff solution's training in plain numpy, in one process with the sandbox's environment (in
    the era stack's container when given): wall and CPU seconds of its loops, and its final q1 loss."""
    attempts = {q.question: q.attempts[q.counted_attempt] for q in report.questions}
    arguments = ["--variant", "floor", "--shape", "staff", "--steps", str(attempts["q1"].epochs or 0),
                 "--q2-epochs", str(attempts["q2"].epochs or 0),
                 "--seeds", f"{attempts['q1'].seed},{attempts['q2'].seed}"]
    if era_image is None:
        command = [sys.executable, str(REPO / "bench" / "nn_workloads.py"), *arguments, "--data-dir", str(data_dir)]
        env = {**os.environ, **environment}
    else:
        command = ["docker", "run", "--rm", "--network", "none", "--user", "10001:10001"]
        for name, value in environment.items():
            command += ["-e", f"{name}={value}"]
        command += ["-v", f"{REPO}:/repo:ro", "-v", f"{data_dir / 'public'}:/data/public:ro", era_image,
                    "python3", "-B", "/repo/bench/nn_workloads.py", *arguments, "--data-dir", "/data"]
        env = dict(os.environ)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["loop_s"], result["loop_cpu_s"], result["first_value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runners", default="docker,local")
    parser.add_argument("--image", default=None, help="sandbox image (default: this checkout's)")
    parser.add_argument("--floor-here", action="store_true", help="run the floor on this interpreter")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the sandbox environment")
    parser.add_argument("--unset", action="append", default=[], help="NAME to drop from the sandbox environment")
    parser.add_argument("--baseline-image", default=None, help="another sandbox image, graded as runner 'base'")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NNGRADE_DATA_DIR", REPO / "var/data")))
    args = parser.parse_args()
    era_image = None
    if not args.floor_here:
        import era_stack

        era_image = era_stack.ensure()
    extra_env = dict(item.split("=", 1) for item in args.env)
    environment = sandbox_environment(args.data_dir, extra_env, args.unset)
    config = AssignmentConfig()
    kinds = [kind for kind in args.runners.split(",") if kind]
    if args.baseline_image:
        kinds.append("base")
    rounds: list[dict[str, Any]] = []
    for _ in range(args.repeat):
        result: dict[str, Any] = {}
        for kind in kinds:
            if kind == "base":
                runner = make_runner("docker", args.data_dir, args.baseline_image, extra_env, args.unset)
            else:
                runner = make_runner(kind, args.data_dir, args.image, extra_env, args.unset)
            started = time.perf_counter()
            report = grade_submission(STAFF, config, runner, args.data_dir)
            result[kind] = time.perf_counter() - started
            assert report.total_points == 12, f"{kind}: staff solution scored {report.total_points}/12"
            attempts = [q.attempts[q.counted_attempt] for q in report.questions]
            result[kind + " cpu"] = sum(a.cpu_s for a in attempts)
            result[kind + " attempt wall"] = sum(a.wall_s for a in attempts)
            if kind != "base":
                result["report"] = report
        result["floor"], result["floor cpu"], floor_loss = floor(result["report"], args.data_dir, environment,
                                                                 era_image)
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
          f"{last.environment.numpy_version}; sandbox env as the runner sets it, plus {extra_env}, less "
          f"{args.unset}; load {load}")
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
