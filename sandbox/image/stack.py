"""The sandbox's Python packages: the hash-locked set in `stack/uv.lock`, fetched as wheels on the host.

`stack/pyproject.toml` names the era stack (NumPy 1.22.4 for CPython 3.9); `uv lock` in that folder
resolves it into `stack/uv.lock`, which records every file's sha256. The build exports the lock with uv
and lets the host's pip download the CPython 3.9 wheels with `--require-hashes`, so the image gets
exactly the locked bytes, or the build stops.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

STACK_DIR = Path(__file__).with_name("stack")
LOCK_PATH = STACK_DIR / "uv.lock"
PYPROJECT_PATH = STACK_DIR / "pyproject.toml"
# The interpreter the wheels are for: Debian bullseye's python3.
PYTHON_VERSION = "3.9"
ABI = "cp39"
# Bullseye has glibc 2.31, so it runs wheels tagged for glibc 2.31 and older. pip matches tags literally,
# so every one is named, with the legacy aliases of 2.17, 2.12 and 2.5.
WHEEL_PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(31, 4, -1)),
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64",
)

Log = Callable[[str], None]


class StackError(RuntimeError):
    """The lock cannot be exported or its wheels cannot be fetched and verified."""


def locked_versions(lock_path: Path = LOCK_PATH) -> dict[str, str]:
    """Package name -> version for every package the lock installs (the stack project itself excluded)."""
    lock = tomllib.loads(lock_path.read_text(encoding="utf-8"))
    return {
        str(package["name"]): str(package["version"])
        for package in lock.get("package", [])
        if "registry" in package.get("source", {})
    }


def export_requirements(stack_dir: Path = STACK_DIR) -> str:
    """The lock as a pip requirements file with hashes (`uv export --frozen`: the lock as it is)."""
    command = [
        sys.executable, "-m", "uv", "export", "--quiet", "--frozen", "--format", "requirements-txt",
        "--no-header", "--no-annotate", "--no-emit-project", "--project", str(stack_dir),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise StackError(f"cannot run uv: {exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.strip()[-1000:]
        if "No module named uv" in detail:
            detail = "uv is not installed in this environment (it is in the development lock)"
        raise StackError(f"uv export of {stack_dir / 'uv.lock'} failed: {detail}")
    return done.stdout


def fetch_wheels(cache_dir: Path, log: Log, stack_dir: Path = STACK_DIR) -> list[Path]:
    """Download (once) and verify the locked wheels for the image; returns one wheel per locked package."""
    requirements = export_requirements(stack_dir)
    key = hashlib.sha256(requirements.encode()).hexdigest()[:16]
    destination = cache_dir / "wheels" / f"stack-{key}"
    destination.mkdir(parents=True, exist_ok=True)
    requirements_path = destination / "requirements.txt"
    requirements_path.write_text(requirements, encoding="utf-8")
    log(f"wheels: fetching the locked stack into {destination}")
    # pip checks every file against the lock's hashes, the ones already in `destination` included.
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--require-hashes", "--no-deps",
        "--only-binary=:all:", *(f"--platform={platform}" for platform in WHEEL_PLATFORMS),
        "--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", ABI,
        "--dest", str(destination), "-r", str(requirements_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"pip download of the locked stack failed: {done.stderr.strip()[-1500:]}")
    wheels = sorted(destination.glob("*.whl"))
    locked = locked_versions(stack_dir / "uv.lock")
    for name, version in locked.items():
        if not [w for w in wheels if _wheel_name_version(w) == (_normalize(name), version)]:
            raise StackError(f"no wheel for {name}=={version} was fetched (see {requirements_path})")
    return [w for w in wheels if _wheel_name_version(w)[0] in {_normalize(n) for n in locked}]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _wheel_name_version(wheel: Path) -> tuple[str, str]:
    name, version = wheel.name.split("-")[:2]
    return _normalize(name), version
