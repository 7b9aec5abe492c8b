"""The starter kit students download, and the public MNIST bundle its checker uses.

The kit is what a student needs to work and to check before uploading: the `models.py` skeleton, our
`nn.py` and `backend.py` (the grader's own), `check.py` with the grader package it runs (the server's grading
loop, checks and seeds; see grader/checker.py), a README in the student's language, and `kit.json`: the
assignment's configuration and a personal link to the MNIST data. The data is the cache's public part as
one compressed file (`grader.mnist.write_public_bundle`: never the test labels), built once and kept under
the var directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grader
from grader import mnist
from grader.config import AssignmentConfig

KIT_NAME = "nngrade-starter-kit.zip"
KIT_ROOT = "nngrade-kit"
KIT_FORMAT = "nngrade.kit/1"
LANGUAGES = ("es", "en")
_GRADER_DIR = Path(grader.__file__).resolve().parent
_REPO_DIR = _GRADER_DIR.parent
_FILES_DIR = Path(__file__).resolve().parent.parent / "kit" / "files"
_TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
# A fixed timestamp keeps the archive byte-identical for identical contents.
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)
# Never shipped: bytecode, and a data cache someone may have put beside the grader's kit.
_EXCLUDED_PARTS = ("__pycache__",)
_EXCLUDED_PREFIXES = (("kit", "data"),)


@dataclass(frozen=True)
class KitFile:
    """One file of the kit: its path in the archive, where its bytes come from, and what it is for."""

    name: str
    source: Path | None  # None: made per download (README.md, kit.json)
    description: str


@dataclass(frozen=True)
class PublicData:
    """The public MNIST bundle on disk: its path, SHA-256 and size in bytes."""

    path: Path
    sha256: str
    size_bytes: int


def kit_files() -> list[KitFile]:
    """Every file of the kit, in archive order, the grader package last."""
    kit_dir = _GRADER_DIR / "kit"
    files = [
        KitFile("README.md", None, "readme"),
        KitFile("models.py", _REPO_DIR / "reference_solutions" / "skeleton" / "models.py", "skeleton"),
        KitFile("nn.py", kit_dir / "nn.py", "nn"),
        KitFile("backend.py", kit_dir / "backend.py", "backend"),
        KitFile("regression_targets.txt", kit_dir / "regression_targets.txt", "targets"),
        KitFile("check.py", _FILES_DIR / "check.py", "checker"),
        KitFile("kit.json", None, "config"),
    ]
    files.extend(KitFile(f"grader/{path.relative_to(_GRADER_DIR).as_posix()}", path, "grader")
                 for path in _grader_files())
    return files


def _catalogs() -> list[KitFile]:
    """The portal's compiled catalogs, which check.py reads with gettext (grader/plain_locale.py)."""
    return [KitFile(f"grader/locale/{mo.relative_to(_TRANSLATIONS_DIR).as_posix()}", mo, "catalog")
            for mo in sorted(_TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.mo"))]


def _grader_files() -> Iterator[Path]:
    for path in sorted(_GRADER_DIR.rglob("*")):
        parts = path.relative_to(_GRADER_DIR).parts
        if not path.is_file() or path.suffix in (".pyc", ".pyo") or any(p in parts for p in _EXCLUDED_PARTS):
            continue
        if any(parts[: len(prefix)] == prefix for prefix in _EXCLUDED_PREFIXES):
            continue
        yield path


def kit_manifest(config: AssignmentConfig, assignment: Mapping[str, str], portal_url: str,
                 data_url: str | None, data: PublicData | None, language: str = "en") -> dict[str, Any]:
    """kit.json: the assignment the kit checks against, the language check.py speaks, and where its checker
    downloads the MNIST data."""
    return {
        "format": KIT_FORMAT,
        "language": language,
        "assignment": dict(assignment),
        "config": config.to_dict(),
        "portal": portal_url,
        "data": None if data is None or data_url is None else {
            "url": data_url, "sha256": data.sha256, "bytes": data.size_bytes,
        },
    }


def build_kit(manifest: Mapping[str, Any], readme: str) -> bytes:
    """The kit as a zip archive (every file under nngrade-kit/), with this student's kit.json and README."""
    generated = {"README.md": readme.encode("utf-8"),
                 "kit.json": (json.dumps(manifest, indent=2) + "\n").encode("utf-8")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for f in [*kit_files(), *_catalogs()]:
            data = generated[f.name] if f.source is None else f.source.read_bytes()
            info = zipfile.ZipInfo(f"{KIT_ROOT}/{f.name}", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if f.name == "check.py" else 0o644) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def public_data(data_dir: Path, cache_dir: Path) -> PublicData:
    """The public MNIST bundle for the cache in `data_dir`, built on first use into `cache_dir`.

    Keyed by the cache's manifest, so a rebuilt cache gets a new bundle; concurrent portal processes build it
    once (a file lock). Raises `grader.mnist.MnistDataError` when the cache is not usable.
    """
    mnist.require_cache(data_dir)
    key = hashlib.sha256((data_dir / mnist.MANIFEST).read_bytes()).hexdigest()[:16]
    bundle = cache_dir / f"mnist-public-{key}.npz"
    record = bundle.with_suffix(".json")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / ".lock"):
        if not (bundle.is_file() and record.is_file()):
            sha256 = mnist.write_public_bundle(data_dir, bundle)
            record.write_text(json.dumps({"sha256": sha256}))
        sha256 = json.loads(record.read_text())["sha256"]
    return PublicData(bundle, sha256, bundle.stat().st_size)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
