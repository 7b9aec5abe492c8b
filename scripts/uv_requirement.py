"""Print the pip requirement that installs one locked package exactly as a uv.lock records it.

    python scripts/uv_requirement.py                  # uv==X --hash=sha256:... (from ./uv.lock)
    python scripts/uv_requirement.py --version        # X
    python scripts/uv_requirement.py numpy --lock L   # numpy==Y --hash=... from the lock file L

uv installs everything else from the lock, so it cannot install itself: this line lets pip do that one step
with the same hash check (`pip install --require-hashes`). The kit's tests use it to give a fresh venv the
locked NumPy a student would install. Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "uv.lock"


def requirement(name: str = "uv", lock: Path = LOCK) -> str:
    """`name==version --hash=sha256:...` with the hash of every wheel the lock records for `name`."""
    packages = tomllib.loads(lock.read_text())["package"]
    entry = next((p for p in packages if p["name"] == name), None)
    if entry is None:
        raise SystemExit(f"{lock} does not lock {name}; add it and run `make lock`")
    hashes = " ".join(f"--hash={wheel['hash']}" for wheel in entry["wheels"])
    return f"{name}=={entry['version']} {hashes}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", default="uv")
    parser.add_argument("--lock", type=Path, default=LOCK)
    parser.add_argument("--version", action="store_true", help="print only the locked version")
    args = parser.parse_args()
    line = requirement(args.name, args.lock)
    print(line.split()[0].split("==")[1] if args.version else line)


if __name__ == "__main__":
    main()
