"""Grade a folder of models.py files the way grading runs, and show what decided each verdict and how long it took.

Per file and question: points, outcome, metric, every attempt's seed, outcome and wall time; then, per
question, the distribution of attempt times (all attempts, and those whose sanity checks passed, i.e. the
models that trained), to set each question's wall limit against. Attempts go through the Docker sandbox
with the assignment's default seeds and limits unless told otherwise. Run:
    .venv/bin/python bench/bench_compat.py [PATH ...] [--questions q1,q2] [--time-limit-s S] [--json FILE]
PATH is a models.py file or a folder of them (default: reference_solutions/compat and
reference_solutions/patterns, those that exist).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader import mnist
from grader.config import AssignmentConfig
from grader.grading import grade_submission
from grader.report import Report, format_metric
from grader.runs import Runner

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FOLDERS = (REPO / "reference_solutions" / "compat", REPO / "reference_solutions" / "patterns")


@dataclass(frozen=True)
class Row:
    file: str
    question: str
    points: int
    max_points: int
    outcome: str
    metric: str
    metric_value: float | None  # exact, for comparing with reference values to the last bit
    # seed, outcome, wall seconds, sanity checks passed, CPU seconds (which a busy host does not inflate)
    attempts: tuple[tuple[int, str, float, bool, float], ...]


def submissions_in(paths: Sequence[Path]) -> list[Path]:
    """Every .py file named, or found directly in a folder named, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.glob("*.py")))
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"bench_compat: {path} is neither a file nor a folder")
    return found


def rows_of(path: Path, report: Report) -> list[Row]:
    return [
        Row(
            file=path.name,
            question=q.question,
            points=q.points,
            max_points=q.max_points,
            outcome=q.outcome,
            metric=format_metric(q.metric_name, q.metric_value),
            metric_value=q.metric_value,
            attempts=tuple((a.seed, a.outcome, a.wall_s, a.sanity_passed, a.cpu_s) for a in q.attempts),
        )
        for q in report.questions
    ]


def distribution(times_s: Sequence[float]) -> str:
    if not times_s:
        return "n=0"
    ordered = sorted(times_s)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (f"n={len(ordered)}  min {ordered[0]:.1f}  median {statistics.median(ordered):.1f}  "
            f"p90 {p90:.1f}  max {ordered[-1]:.1f} s")


def render(rows: Sequence[Row], questions: Sequence[str]) -> str:
    table = [("file", "question", "points", "outcome", "metric", "attempts (seed: outcome wall s/CPU s)")]
    for row in rows:
        attempts = "; ".join(f"{seed}: {outcome} {wall_s:.1f}/{cpu_s:.1f}"
                             for seed, outcome, wall_s, _, cpu_s in row.attempts)
        table.append((row.file, row.question, f"{row.points}/{row.max_points}", row.outcome, row.metric, attempts))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.append("")
    lines.append("attempt times per question: wall, all attempts | wall and CPU, attempts whose model trained "
                 "(sanity checks passed) and did not time out")
    for question in questions:
        mine = [a for r in rows if r.question == question for a in r.attempts]
        trained = [a for a in mine if a[3] and a[1] != "timeout"]
        everything = distribution([a[2] for a in mine])
        lines.append(f"  {question} wall: {everything}  |  {distribution([a[2] for a in trained])}")
        lines.append(f"  {question} CPU:  {'':{len(everything)}}  |  {distribution([a[4] for a in trained])}")
    return "\n".join(lines)


def make_runner(kind: str, data_dir: Path) -> Runner:
    if kind == "local":
        from grader.local_runner import LocalRunner

        return LocalRunner(data_dir)
    from sandbox import DockerRunner, DockerSettings
    from sandbox.select import docker_problem

    runner = DockerRunner(DockerSettings(data_dir=data_dir, owner="bench-compat"))
    problem = docker_problem(runner)
    if problem is not None:
        raise SystemExit(f"bench_compat: the Docker sandbox is not available: {problem}")
    return runner


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, help="models.py files or folders of them")
    parser.add_argument("--questions", default="q1,q2", help="comma-separated question ids (default %(default)s)")
    parser.add_argument("--time-limit-s", type=float, help="every question's CPU-time budget instead of its own")
    parser.add_argument("--runner", choices=("docker", "local"), default="docker")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NNGRADE_DATA_DIR", REPO / "var/data")))
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every row as JSON")
    args = parser.parse_args(argv)
    paths = args.paths or [folder for folder in DEFAULT_FOLDERS if folder.is_dir()]
    files = submissions_in(paths)
    questions = tuple(q.strip() for q in args.questions.split(",") if q.strip())
    config = AssignmentConfig(questions=questions)
    if args.time_limit_s is not None:
        config = config.with_time_limits(args.time_limit_s)
    if (problem := mnist.cache_status(args.data_dir)) is not None:
        raise SystemExit(f"bench_compat: the MNIST cache is not usable: {problem}")
    runner = make_runner(args.runner, args.data_dir)
    rows: list[Row] = []
    started = time.monotonic()
    for path in files:
        report = grade_submission(path, config, runner, args.data_dir)
        rows.extend(rows_of(path, report))
        print(f"  graded {path.name}: {report.total_points}/{report.max_points} in {report.wall_s:.1f} s",
              file=sys.stderr, flush=True)
    print(render(rows, questions))
    print(f"\n{len(files)} files, {time.monotonic() - started:.0f} s, {runner.name} runner, limits (CPU/wall) "
          + ", ".join(f"{q} {config.limits_for(q).cpu_s:g}/{config.limits_for(q).wall_s:g} s" for q in questions))
    if args.json:
        args.json.write_text(json.dumps([row.__dict__ for row in rows], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
