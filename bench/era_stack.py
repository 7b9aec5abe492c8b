"""A scratch Docker image with the course's era stack, for benchmarks only: not the sandbox image.

Debian bullseye's Python 3.9 (debootstrap minbase), numpy 1.22.4 from PyPI's manylinux wheel, and the
allocators a sandbox could preload (Debian's libjemalloc2, and libmimalloc when the suite has one).
The image holds no nngrade code: benchmarks bind-mount the checkout read-only. Run (as root):

    .venv/bin/python bench/era_stack.py   # prints the tag; builds it unless it exists

It runs the benchmarks' own processes (workloads, floors, the course's numbers) on the sandbox's stack;
graded attempts run in the sandbox image itself (sandbox/image).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO / "var" / "cache" / "bench"
SUITE = "bullseye"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "libjemalloc2")
OPTIONAL_PACKAGES = ("libmimalloc2.0",)  # not every suite packages mimalloc
NUMPY_VERSION = "1.22.4"
PYTHON_TAG = "39"
REPOSITORY = "nngrade-bench-era"

# Inside the image, for benchmark drivers.
SITE_DIR = "/opt/era/site"
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def tag() -> str:
    recipe = json.dumps([SUITE, MIRROR, PACKAGES, OPTIONAL_PACKAGES, NUMPY_VERSION, PYTHON_TAG, "compiled"]).encode()
    return f"{REPOSITORY}:{hashlib.sha256(recipe).hexdigest()[:12]}"


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def build(name: str) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="era-stack-", dir=CACHE_DIR) as tmp:
        root = Path(tmp) / "root"
        print(f"debootstrap {SUITE} minbase with {', '.join(PACKAGES)}", flush=True)
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), MIRROR],
             capture_output=True)
        for package in OPTIONAL_PACKAGES:
            done = subprocess.run(["chroot", str(root), "apt-get", "install", "-y", "-q", package],
                                  capture_output=True, text=True)
            print(f"optional {package}: {'installed' if done.returncode == 0 else 'not in ' + SUITE}", flush=True)
        wheels = Path(tmp) / "wheels"
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
              "--platform", "manylinux2014_x86_64", "--python-version", PYTHON_TAG, "--implementation", "cp",
              "--abi", f"cp{PYTHON_TAG}", "--dest", str(wheels), f"numpy=={NUMPY_VERSION}"])
        (wheel,) = wheels.glob("numpy-*.whl")
        site = root / SITE_DIR.lstrip("/")
        site.mkdir(parents=True)
        _run([sys.executable, "-m", "zipfile", "-e", str(wheel), str(site)])
        # Bytecode now: containers run read-only, and compiling numpy at every import costs 0.6 s.
        # (A few test files in the wheel do not compile; compileall says so and carries on.)
        subprocess.run(["chroot", str(root), "python3", "-m", "compileall", "-q", SITE_DIR], capture_output=True)
        (root / "usr/lib/python3/dist-packages" / "era.pth").write_text(SITE_DIR + "\n")
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        tarball = Path(tmp) / "root.tar"
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "--exclude=./dev/*",
              "--exclude=./proc/*", "--exclude=./sys/*", "."])
        _run(["docker", "import", "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin", str(tarball), name],
             capture_output=True)
    print(f"built {name}", flush=True)


def ensure() -> str:
    """The era stack image's tag, built first if this engine lacks it."""
    name = tag()
    if not image_exists(name):
        build(name)
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args()
    name = ensure()
    versions = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", name, "python3", "-c",
         "import platform, numpy; print(platform.python_version(), numpy.__version__)"],
        capture_output=True, text=True, check=True).stdout.strip()
    print(f"{name}: python, numpy = {versions}")


if __name__ == "__main__":
    main()
