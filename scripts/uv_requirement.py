"""Print the pip requirement that installs uv exactly as uv.lock records it: `uv==X --hash=sha256:...`.

uv installs everything else from the lock, so it cannot install itself; this line lets pip do that one step
with the same hash check (`pip install --require-hashes`). Standard library only: it runs before any venv.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "uv.lock"


def uv_requirement(lock: Path = LOCK) -> str:
    packages = tomllib.loads(lock.read_text())["package"]
    entry = next((p for p in packages if p["name"] == "uv"), None)
    if entry is None:
        raise SystemExit(f"{lock} does not lock uv; add it to the dev group and run `make lock`")
    hashes = " ".join(f"--hash={wheel['hash']}" for wheel in entry["wheels"])
    return f"uv=={entry['version']} {hashes}"


if __name__ == "__main__":
    if sys.argv[1:] == ["--version"]:
        print(uv_requirement().split()[0].split("==")[1])
    else:
        print(uv_requirement())
