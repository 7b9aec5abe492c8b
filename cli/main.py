"""Entry point of the `nngrade` console script."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """The `nngrade` console script; returns the exit status."""
    from cli.app import run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
