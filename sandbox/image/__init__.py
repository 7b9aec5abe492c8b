"""The sandbox image: a registry-free Debian bullseye base, the locked era stack, and our `grader` package.

The stack is the course kit's: CPython 3.9 (bullseye's python3) with the packages `stack/uv.lock` names
(NumPy 1.22.4). Nothing in `docker build` needs the network: debootstrap runs on the host (its tarball
is cached under var/), and the host's pip fetches the locked wheels, checked against the lock's hashes.

The tag carries a hash of everything that goes into the image (this recipe, the Dockerfile, the stack's
lock, every file of `grader/`), so a worker asks for exactly the image matching its own checkout and a
stale image is rebuilt, never silently used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import grader
from sandbox.engine import Engine, EngineError
from sandbox.image import stack

REPOSITORY = "nngrade-sandbox"
# Debian 11: its python3 is CPython 3.9, which the era's NumPy supports and which still has the standard
# modules students' files import (`symbol` left in 3.10).
SUITE = "bullseye"
BASE_REF = f"nngrade-base:{SUITE}"
MIRROR = "http://deb.debian.org/debian"
# The minimal base: debootstrap's minbase plus the interpreter. Changing this list rebuilds the base.
BASE_PACKAGES = ("python3",)
INPUTS_LABEL = "nngrade.inputs"
STACK_LABEL = "nngrade.stack"  # the locked packages, "name==version" separated by spaces

DOCKERFILE = Path(__file__).with_name("Dockerfile")
GRADER_DIR = Path(grader.__file__).resolve().parent
REPO_DIR = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_DIR / "var" / "cache" / "sandbox"
RECORD_PATH = REPO_DIR / "var" / "sandbox-image.json"

Log = Callable[[str], None]


@dataclass(frozen=True)
class ImageRecord:
    """What was built, for the operator and for result provenance."""

    tag: str
    image_id: str  # content digest, sha256:...
    inputs_hash: str
    base_image: str
    numpy_version: str  # as the stack's lock pins it
    build_s: float


# Never baked into the image: bytecode, and a dataset cache someone may have put beside the kit (the
# sandbox sees data only through its read-only /data mount).
EXCLUDED_DIRS = ("__pycache__",)
EXCLUDED_PREFIXES = (("kit", "data"),)


def _grader_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(d in parts for d in EXCLUDED_DIRS) or any(parts[: len(p)] == p for p in EXCLUDED_PREFIXES):
            continue
        if path.suffix in (".pyc", ".pyo") or not path.is_file():
            continue
        files.append(path)
    return files


def inputs_hash(base_image: str = BASE_REF, grader_dir: Path = GRADER_DIR, stack_dir: Path = stack.STACK_DIR) -> str:
    """sha256 over the recipe, the stack's lock and the grader sources: equal hashes mean an equal image."""
    digest = hashlib.sha256()

    def add(name: str, data: bytes) -> None:
        digest.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)

    add("recipe", json.dumps([base_image, SUITE, MIRROR, BASE_PACKAGES, stack.PYTHON_VERSION, stack.ABI,
                              stack.WHEEL_PLATFORMS]).encode())
    add("Dockerfile", DOCKERFILE.read_bytes())
    for name in ("pyproject.toml", "uv.lock"):
        add("stack/" + name, (stack_dir / name).read_bytes())
    for path in _grader_files(grader_dir):
        add("grader/" + path.relative_to(grader_dir).as_posix(), path.read_bytes())
    return digest.hexdigest()


def expected_tag(base_image: str = BASE_REF) -> str:
    """The image a runner built from this checkout must use."""
    return f"{REPOSITORY}:{inputs_hash(base_image)[:16]}"


def base_tarball(cache_dir: Path, suite: str = SUITE) -> Path:
    key = hashlib.sha256(json.dumps([suite, MIRROR, BASE_PACKAGES]).encode()).hexdigest()[:12]
    return cache_dir / f"{suite}-minbase-{key}.tar"


def make_base_tarball(cache_dir: Path, log: Log, suite: str = SUITE) -> Path:
    """debootstrap a minimal Debian into a cached tarball (about a minute, once per machine)."""
    tarball = base_tarball(cache_dir, suite)
    if tarball.exists():
        log(f"base: using cached {tarball}")
        return tarball
    if os.geteuid() != 0:
        raise SystemExit("building the base image runs debootstrap, which needs root")
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is missing: apt-get install debootstrap (scripts/setup.d/50-docker.sh does)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nngrade-base-", dir=cache_dir) as tmp:
        root = Path(tmp) / "root"
        log(f"base: debootstrap --variant=minbase {suite} (packages: {', '.join(BASE_PACKAGES)})")
        cmd = [
            "debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
            suite, str(root), MIRROR,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise SystemExit(f"debootstrap failed ({done.returncode}):\n{tail}")
        # Package caches and docs are dead weight in every container; apt lists come back with `apt update`.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                     "usr/share/info", "usr/share/locale"):
            target = root / junk
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial),
             "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "."],
            check=True,
        )
        partial.rename(tarball)
    log(f"base: cached {tarball} ({tarball.stat().st_size // (1 << 20)} MiB)")
    return tarball


def ensure_base(engine: Engine, cache_dir: Path, log: Log, suite: str = SUITE) -> str:
    """Import the debootstrap tarball as nngrade-base:<suite> unless the engine already has it."""
    ref = f"nngrade-base:{suite}"
    existing = engine.image_id(ref)
    if existing is not None:
        return existing
    tarball = make_base_tarball(cache_dir, log, suite)
    repository, tag = ref.split(":")
    image = engine.import_tarball(
        tarball, repository, tag,
        changes=['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["/bin/bash"]'],
    )
    log(f"base: imported {ref} as {image}")
    return image


def _copy_grader(into: Path) -> None:
    for path in _grader_files(GRADER_DIR):
        target = into / path.relative_to(GRADER_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def build_image(
    engine: Engine,
    *,
    base_image: str = BASE_REF,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    force: bool = False,
    log: Log = print,
) -> ImageRecord:
    """Build the sandbox image unless an image with the same inputs exists; returns what is current."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nngrade-image-") as tmp:
        context = Path(tmp)
        _copy_grader(context / "grader")
        # Hash what is actually sent, so a grader/ edited mid-build cannot get the old tag.
        digest = inputs_hash(base_image, context / "grader")
        tag = f"{REPOSITORY}:{digest[:16]}"
        locked = stack.locked_versions()
        numpy_version = locked["numpy"]
        existing = engine.image_id(tag)
        if existing is not None and not force:
            log(f"image: {tag} is up to date ({existing})")
            engine.tag(existing, REPOSITORY, "latest")
            return ImageRecord(tag, existing, digest, base_image, numpy_version, 0.0)
        if base_image == BASE_REF:
            ensure_base(engine, cache_dir, log)
        elif engine.image_id(base_image) is None:
            raise EngineError(f"base image {base_image} is not on the engine: docker pull {base_image} first")
        try:
            wheels = stack.fetch_wheels(cache_dir, log)
        except stack.StackError as exc:
            raise SystemExit(f"error: {exc}") from exc
        shutil.copy2(DOCKERFILE, context / "Dockerfile")
        (context / "wheels").mkdir()
        for wheel in wheels:
            shutil.copy2(wheel, context / "wheels" / wheel.name)
        log(f"image: building {tag} on {base_image}")
        stack_label = " ".join(f"{name}=={version}" for name, version in sorted(locked.items()))
        for line in engine.build(
            context,
            tag,
            buildargs={"BASE_IMAGE": base_image},
            labels={INPUTS_LABEL: digest, STACK_LABEL: stack_label, "nngrade.numpy": numpy_version,
                    "nngrade.base": base_image},
        ):
            log(line.rstrip("\n"))
    image = engine.image_id(tag)
    if image is None:
        raise EngineError(f"docker build finished but {tag} is missing")
    engine.tag(image, REPOSITORY, "latest")
    record = ImageRecord(tag, image, digest, base_image, numpy_version, round(time.monotonic() - started, 1))
    log(f"image: built {tag} = {image} in {record.build_s:.1f}s")
    return record


def prune_stale(engine: Engine, keep: str, log: Log = print) -> None:
    """Drop sandbox tags of older grader versions (images a running container uses stay)."""
    for ref in engine.image_tags(REPOSITORY):
        if ref in (keep, f"{REPOSITORY}:latest"):
            continue
        log(f"image: removing stale {ref}" if engine.untag(ref) else f"image: {ref} still in use, kept")


def write_record(record: ImageRecord, path: Path = RECORD_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(record), indent=2) + "\n")


def main(argv: Iterable[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sandbox.image", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the sandbox image if missing or stale")
    build.add_argument("--base-image", default=BASE_REF,
                       help=f"base to build on (default {BASE_REF}, debootstrapped; or python:3.9-slim-bullseye)")
    build.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="where the base tarball is cached")
    build.add_argument("--docker-url", default=None, help="engine address (default: the local socket)")
    build.add_argument("--force", action="store_true", help="rebuild even when an up-to-date image exists")
    build.add_argument("--record", type=Path, default=RECORD_PATH, help="where to write the built image's id")
    build.add_argument("--prune", action="store_true", help="remove sandbox images of other grader versions")
    sub.add_parser("tag", help="print the tag this checkout expects")
    base = sub.add_parser("base", help="make a debootstrapped base image nngrade-base:<suite> if missing")
    base.add_argument("--suite", default=SUITE, help=f"Debian suite (default {SUITE}, the sandbox's)")
    base.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="where the tarball is cached")
    base.add_argument("--docker-url", default=None, help="engine address (default: the local socket)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    if args.command == "tag":
        print(expected_tag())
        return 0
    try:
        engine = Engine.connect(args.docker_url) if args.docker_url else Engine.connect()
        if args.command == "base":
            print(ensure_base(engine, args.cache_dir, print, args.suite))
            return 0
        record = build_image(engine, base_image=args.base_image, cache_dir=args.cache_dir, force=args.force)
        if args.prune:
            prune_stale(engine, record.tag)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_record(record, args.record)
    print(json.dumps(asdict(record)))
    return 0
