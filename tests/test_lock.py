"""One hash-locked dependency set: pyproject.toml and uv.lock agree, and this venv holds exactly the lock.

These checks read only local files (`--offline`): they fail when the project and its lock disagree, never
because something was released upstream.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "uv.lock"
UV = Path(sys.executable).with_name("uv")


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(UV), *args, "--offline"], cwd=REPO, capture_output=True, text=True, check=False)


def _locked_versions() -> dict[str, str]:
    packages = tomllib.loads(LOCK.read_text())["package"]
    return {canonicalize_name(p["name"]): p["version"] for p in packages}


def _required_here() -> dict[str, str]:
    """What the lock says this environment (the project with its dev group) must hold, markers evaluated."""
    done = _uv("export", "--frozen", "--no-hashes", "--no-emit-project", "--no-header", "--no-annotate",
               "--format", "requirements-txt")
    assert done.returncode == 0, done.stderr
    required: dict[str, str] = {}
    for line in done.stdout.splitlines():
        spec, _, marker = line.partition(" ; ")
        if "==" not in spec or (marker and not Marker(marker).evaluate()):
            continue
        name, version = spec.split("==")
        required[canonicalize_name(name)] = version.strip()
    return required


def test_pyproject_and_lock_agree() -> None:
    done = _uv("lock", "--locked")
    assert done.returncode == 0, f"uv.lock does not match pyproject.toml; run `make lock`:\n{done.stderr}"


def test_venv_holds_exactly_the_lock() -> None:
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) != "nngrade"
    }
    required = _required_here()
    assert required, "uv export listed nothing"
    assert installed == required, (
        f"not in the lock or at another version: "
        f"{sorted(set(installed.items()) - set(required.items()))}; "
        f"locked but missing: {sorted(set(required.items()) - set(installed.items()))}"
    )
    locked = _locked_versions()
    assert all(locked[name] == version for name, version in required.items())


def test_uv_sync_sees_nothing_to_change() -> None:
    done = _uv("sync", "--locked", "--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_uv_bootstrap_requirement_is_the_locked_uv() -> None:
    line = subprocess.run([sys.executable, str(REPO / "scripts" / "uv_requirement.py")], capture_output=True,
                          text=True, check=True).stdout.split()
    assert line[0] == f"uv=={_locked_versions()['uv']}"
    assert len(line) > 1 and all(part.startswith("--hash=sha256:") for part in line[1:])
