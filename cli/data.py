"""`nngrade data fetch|status`: the MNIST cache the graders read."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader import mnist
from nngrade.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `nngrade data fetch|status` to the command line."""
    data = subparsers.add_parser("data", help="fetch, verify and cache the MNIST data")
    commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = commands.add_parser("fetch", help="download (or copy) the IDX files, verify them, build the cache")
    fetch.add_argument("--from", dest="source_dir", type=Path, help="a directory holding the four IDX files")
    fetch.add_argument("--data-dir", type=Path, help="where the cache goes (default: NNGRADE_DATA_DIR or var/data)")
    fetch.set_defaults(handler=_fetch)
    status = commands.add_parser("status", help="say whether the cache is complete and intact")
    status.add_argument("--data-dir", type=Path)
    status.add_argument("--verify-hashes", action="store_true", help="hash every file (slower)")
    status.set_defaults(handler=_status)


def _data_dir(args: argparse.Namespace) -> Path:
    return args.data_dir if args.data_dir is not None else load_settings().data_dir


def _fetch(args: argparse.Namespace) -> int:
    try:
        path = mnist.fetch(_data_dir(args), source_dir=args.source_dir)
    except mnist.MnistDataError as exc:
        print(f"nngrade data fetch: {exc}")
        return 1
    print(f"MNIST cache ready at {path}")
    return 0


def _status(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    problem = mnist.cache_status(data_dir, verify_hashes=args.verify_hashes)
    if problem is not None:
        print(f"MNIST cache at {data_dir} is not usable: {problem}")
        return 1
    print(f"MNIST cache at {data_dir} is complete")
    return 0
