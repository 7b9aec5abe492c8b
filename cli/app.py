"""The `nngrade` argument parser: each command module registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence

# Each module has `register(subparsers)`; a module that is not installed is skipped.
COMMAND_MODULES = ("cli.grade", "cli.data", "cli.course", "cli.web", "cli.canary")

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The `nngrade` parser with every command module's subcommands; a module that is not installed is left out."""
    parser = argparse.ArgumentParser(
        prog="nngrade",
        description="Grade neural-network assignments: locally, in a Docker sandbox, or as a service.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def run(argv: Sequence[str]) -> int:
    """Parse `argv` (without the program name) and run the chosen command; returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(list(argv))
    handler: Handler = args.handler
    return handler(args)
