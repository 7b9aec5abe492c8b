"""`python -m worker [options]`: a grading worker with its sweep (same as `nngrade worker`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from nngrade.settings import load_settings
from worker.app import run_worker
from worker.options import QUEUES, WorkerOptions


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker's flags on `parser`: concurrency, queues, node name, log level, and one flag per WorkerOptions field
    (its default when not given)."""
    parser.add_argument("--concurrency", type=int, default=None,
                        help="grading processes (default: NNGRADE_WORKER_CONCURRENCY, else the CPU count)")
    parser.add_argument("--queues", default=",".join(QUEUES), help="queues in priority order")
    parser.add_argument("--hostname", default=None, help="worker name, e.g. grader1@%%h")
    parser.add_argument("--loglevel", default="INFO")
    for f in fields(WorkerOptions):
        flag = "--" + f.name.replace("_", "-")
        kind = str if f.name == "runner_factory" else float
        parser.add_argument(flag, type=kind, default=None, help=f"default {f.default}")


def options_from(args: argparse.Namespace) -> WorkerOptions:
    """WorkerOptions from the parsed flags, defaults where a flag was not given."""
    given = {f.name: getattr(args, f.name) for f in fields(WorkerOptions) if getattr(args, f.name) is not None}
    return WorkerOptions(**given)


def start_from_args(args: argparse.Namespace) -> int:
    """Run a worker for the parsed flags and the environment's settings (blocks until it stops)."""
    settings = load_settings()
    run_worker(settings, options_from(args), concurrency=args.concurrency,
               queues=tuple(q for q in args.queues.split(",") if q), hostname=args.hostname,
               loglevel=args.loglevel)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m worker`: parse `argv` and run a worker."""
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    add_worker_arguments(parser)
    return start_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
