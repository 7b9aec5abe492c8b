"""Sandbox overhead per attempt: create, attach, start, collect, inspect and remove a container running a
trivial command (and the harness on a model that does not train), p50/p95. Goal: p50 <= 1 s.
The staff solution in Docker against the local runner and a numpy floor is bench/bench_grade.py.

    .venv/bin/python bench/bench_sandbox.py [--runs 20] [--breakdown]

--breakdown also times each phase of the harness's attempts, as the host sees them: the engine's create,
attach and start calls, start to the harness's greeting (interpreter, harness imports, the greeting's
versions), greeting to result (the student's process: imports, the model, its checks), result to the
container's exit (wait), and remove.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.limits import Limits  # noqa: E402
from grader.protocol import HarnessStream  # noqa: E402
from grader.runs import RunRequest  # noqa: E402
from sandbox import DockerRunner, DockerSettings, SandboxLimits  # noqa: E402
from sandbox.attempt import Attempt  # noqa: E402
from sandbox.engine import Engine  # noqa: E402

STAFF = REPO / "reference_solutions" / "staff" / "models.py"
NO_TRAINING = REPO / "reference_solutions" / "broken" / "no_training.py"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.3f} s  p95 {p95:.3f} s  min {ordered[0]:.3f} s  (n={len(ordered)})"


def timed(runs: int, once: Callable[[], str]) -> list[float]:
    once()  # warm the engine's and the page cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        status = once()
        samples.append(time.perf_counter() - started)
        if status not in ("ok", "crashed"):
            raise SystemExit(f"unexpected status {status}")
    return samples


def bench_overhead(runner: DockerRunner, runs: int) -> None:
    limits = SandboxLimits(wall_s=30.0)
    digest = runner.image_digest()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o755)
        spec = runner._spec(limits, Path(tmp))
        for label, command in (("/bin/true", ["/bin/true"]), ("python3 -I -c pass", ["python3", "-I", "-c", "pass"])):
            trivial = dataclasses.replace(spec, command=command)

            def once(trivial: object = trivial) -> str:
                outcome = Attempt(runner.engine(), trivial, limits, HarnessStream(), digest).run(b"{}")  # type: ignore[arg-type]
                return "ok" if outcome.exit_code == 0 else outcome.status

            print(f"  container lifecycle, {label:<22} {percentiles(timed(runs, once))}")

    request = RunRequest(NO_TRAINING, "q1", 0, Limits(wall_s=30.0))
    print(f"  harness, q1 model without training  {percentiles(timed(runs, lambda: runner.run(request).status))}")


def bench_breakdown(runner: DockerRunner, runs: int) -> None:
    """Median seconds of each phase of the harness's attempt on a model that does not train."""
    import grader.protocol as protocol

    marks: dict[str, float] = {}
    phases: dict[str, list[float]] = {}
    engine = runner.engine()

    def timed_call(name: str, call: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                marks[name] = time.perf_counter()
                phases.setdefault(name, []).append(marks[name] - started)
        return wrapper

    for name in ("create", "attach", "start", "wait", "remove"):
        setattr(engine, name, timed_call(name, getattr(Engine, name).__get__(engine)))
    original_line = protocol.HarnessStream._line

    def line(stream: protocol.HarnessStream, raw: bytes) -> None:
        kind = "hello" if stream.token is None else "other"
        original_line(stream, raw)
        if kind == "hello" or (stream.result is not None and "result" not in marks):
            marks["hello" if kind == "hello" else "result"] = time.perf_counter()

    protocol.HarnessStream._line = line  # type: ignore[method-assign, assignment]
    request = RunRequest(NO_TRAINING, "q1", 0, Limits(wall_s=30.0))
    try:
        runner.run(request)  # warm the engine's and the page cache
        phases.clear()
        for _ in range(runs):
            marks.clear()
            status = runner.run(request).status
            if status != "ok":
                raise SystemExit(f"unexpected status {status}")
            for name, (begin, end) in {"start -> greeting": ("start", "hello"),
                                       "greeting -> result": ("hello", "result"),
                                       "result -> exit (wait)": ("result", "wait")}.items():
                phases.setdefault(name, []).append(marks[end] - marks[begin])
    finally:
        protocol.HarnessStream._line = original_line  # type: ignore[method-assign]
    order = ("create", "attach", "start", "start -> greeting", "greeting -> result", "result -> exit (wait)",
             "remove")
    for name in order:
        print(f"  {name:<24} p50 {statistics.median(phases[name]):.3f} s  min {min(phases[name]):.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, default=REPO / "var" / "data")
    parser.add_argument("--breakdown", action="store_true", help="time each phase of the harness's attempts")
    args = parser.parse_args()

    print(f"machine: {platform.platform()}, Python {platform.python_version()}, "
          f"{__import__('os').cpu_count()} CPUs")
    with DockerRunner(DockerSettings(data_dir=args.data_dir, owner="bench")) as runner:
        print(f"image: {runner.image} = {runner.image_digest()}")
        with open("/proc/loadavg") as handle:
            print(f"load average before: {' '.join(handle.read().split()[:3])}")
        print("sandbox overhead per attempt")
        bench_overhead(runner, args.runs)
        if args.breakdown:
            print("phases of the harness's attempt (model without training)")
            bench_breakdown(runner, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
