"""The student-facing datasets: batching, errors, regression data, MNIST from a cache, progress hook."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.kit import KIT_DIR, import_kit

nn, backend = import_kit()

TRAIN_ROWS, DEV_ROWS, TEST_ROWS = 100, 10, 10


@pytest.fixture(autouse=True)
def _reset_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NNGRADE_DATA_DIR", raising=False)
    yield
    backend.set_data_dir(None)
    backend.set_progress_hook(None)


def write_fake_cache(directory: Path, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(seed)
    arrays = {
        "train_images": rng.randint(0, 256, size=(TRAIN_ROWS, 784)) / 255.0,
        "train_labels": rng.randint(0, 10, size=TRAIN_ROWS).astype(np.uint8),
        "dev_images": rng.randint(0, 256, size=(DEV_ROWS, 784)) / 255.0,
        "dev_labels": rng.randint(0, 10, size=DEV_ROWS).astype(np.uint8),
        "test_images": rng.randint(0, 256, size=(TEST_ROWS, 784)) / 255.0,
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(directory / f"{name}.npy", array)
    return arrays


class LabelPeekingModel:
    """Scores the validation images so that exactly the first `correct` are classified right."""

    def __init__(self, labels: np.ndarray, correct: int) -> None:
        self.labels, self.correct, self.calls = labels, correct, 0

    def run(self, x: Any) -> Any:
        self.calls += 1
        predicted = self.labels.astype(int).copy()
        predicted[self.correct :] = (predicted[self.correct :] + 1) % 10
        return nn.Constant(np.eye(10)[predicted] * 5.0)


# --- Dataset ---------------------------------------------------------------------------------------


def test_batches_come_in_stored_order() -> None:
    x = np.arange(12.0).reshape(6, 2)
    y = np.arange(6.0).reshape(6, 1)
    dataset = backend.Dataset(x, y)
    batches = list(dataset.iterate_once(2))
    assert len(batches) == 3
    for index, (bx, by) in enumerate(batches):
        assert type(bx) is nn.Constant and type(by) is nn.Constant
        assert np.array_equal(bx.data, x[2 * index : 2 * index + 2])
        assert np.array_equal(by.data, y[2 * index : 2 * index + 2])
    assert backend.Dataset is not None and dataset.x is x and dataset.y is y


def test_iterate_forever_repeats_passes() -> None:
    dataset = backend.Dataset(np.arange(4.0).reshape(4, 1), np.zeros((4, 1)))
    stream = dataset.iterate_forever(2)
    firsts = [float(next(stream)[0].data[0, 0]) for _ in range(5)]
    assert firsts == [0.0, 2.0, 0.0, 2.0, 0.0]


@pytest.mark.parametrize(
    ("batch_size", "message"),
    [
        (3, r"^Dataset size 200 is not divisible by batch size 3"),
        (0, "positive Python int"),
        (-4, "positive Python int"),
        (2.0, "positive Python int"),
        (np.int64(2), "positive Python int"),
    ],
)
def test_bad_batch_sizes(batch_size: Any, message: str) -> None:
    dataset = backend.RegressionDataset(model=None)
    with pytest.raises(backend.DatasetError, match=message) as caught:
        next(dataset.iterate_once(batch_size))
    assert isinstance(caught.value, AssertionError)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([[1.0]], np.ones((1, 1)), "x must be a numpy array"),
        (np.ones((1, 1)), np.ones((1, 1), dtype=int), "y must have a float dtype"),
        (np.ones(3), np.ones((3, 1)), "x must be 2-D"),
        (np.ones((3, 2)), np.ones((4, 1)), "same number of rows, instead got 3 and 4"),
    ],
)
def test_dataset_validation(x: Any, y: Any, message: str) -> None:
    with pytest.raises(backend.DatasetError, match=message) as caught:
        backend.Dataset(x, y)
    assert isinstance(caught.value, AssertionError)


def test_datasets_without_validation_data() -> None:
    with pytest.raises(NotImplementedError, match="no validation data"):
        backend.RegressionDataset(model=None).get_validation_accuracy()


# --- RegressionDataset -----------------------------------------------------------------------------


def test_regression_data_is_exact() -> None:
    model = object()
    dataset = backend.RegressionDataset(model)
    x = np.expand_dims(np.linspace(-2 * np.pi, 2 * np.pi, num=200), axis=1)
    np.random.RandomState(0).shuffle(x)
    assert dataset.x.shape == (200, 1) and dataset.x.dtype == np.float64
    assert np.array_equal(dataset.x, x)
    # y is sin(x) as the course's environment computed it (a table; a few ulp from this host's np.sin).
    assert np.allclose(dataset.y, np.sin(x), rtol=1e-15, atol=1e-16)
    assert np.array_equal(dataset.argsort_x, np.argsort(x.flatten()))
    assert dataset.x[dataset.argsort_x[0], 0] == -2 * np.pi
    assert dataset.x[dataset.argsort_x[-1], 0] == 2 * np.pi
    assert dataset.model is model and dataset.processed == 0


def test_regression_counts_processed_examples() -> None:
    dataset = backend.RegressionDataset(model=None)
    stream = dataset.iterate_once(50)
    next(stream)
    assert dataset.processed == 0  # counted once the batch has been used
    next(stream)
    assert dataset.processed == 50
    list(stream)
    assert dataset.processed == 200


def test_datasets_leave_the_global_random_state_alone(tmp_path: Path) -> None:
    write_fake_cache(tmp_path)
    backend.set_data_dir(tmp_path)
    np.random.seed(123)
    state = np.random.get_state()
    regression = backend.RegressionDataset(model=None)
    list(regression.iterate_once(20))
    digits = backend.DigitClassificationDataset(model=None)
    list(digits.iterate_once(10))
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(state[1:2], after[1:2], strict=True))
    assert state[2:] == after[2:]


def test_use_graphics_is_off_and_nothing_imports_matplotlib() -> None:
    assert backend.use_graphics is False
    source = (KIT_DIR / "backend.py").read_text() + (KIT_DIR / "nn.py").read_text()
    assert "matplotlib" not in source


# --- DigitClassificationDataset --------------------------------------------------------------------


def test_digits_from_a_fake_cache(tmp_path: Path) -> None:
    arrays = write_fake_cache(tmp_path)
    backend.set_data_dir(tmp_path)
    model = object()
    dataset = backend.DigitClassificationDataset(model)
    assert dataset.model is model and dataset.epoch == 0
    assert type(dataset.x) is np.ndarray and dataset.x.dtype == np.float64
    assert np.array_equal(dataset.x, arrays["train_images"])
    assert dataset.y.shape == (TRAIN_ROWS, 10) and dataset.y.dtype == np.float64
    assert np.array_equal(np.argmax(dataset.y, axis=1), arrays["train_labels"])
    assert np.array_equal(dataset.y.sum(axis=1), np.ones(TRAIN_ROWS))
    assert type(dataset.dev_images) is np.ndarray and type(dataset.test_images) is np.ndarray
    assert np.array_equal(dataset.dev_images, arrays["dev_images"])
    assert np.array_equal(dataset.dev_labels, arrays["dev_labels"])
    assert np.array_equal(dataset.test_images, arrays["test_images"])
    assert not hasattr(dataset, "test_labels")


def test_digit_images_are_copy_on_write(tmp_path: Path) -> None:
    arrays = write_fake_cache(tmp_path)
    backend.set_data_dir(tmp_path)
    dataset = backend.DigitClassificationDataset(model=None)
    dataset.x[0, 0] = 42.0  # a student scribbling on the data must not touch the shared cache
    assert dataset.x[0, 0] == 42.0
    assert np.array_equal(np.load(tmp_path / "train_images.npy"), arrays["train_images"])


def test_digit_epochs_and_batches(tmp_path: Path) -> None:
    write_fake_cache(tmp_path)
    backend.set_data_dir(tmp_path)
    dataset = backend.DigitClassificationDataset(model=None)
    stream = dataset.iterate_once(25)
    assert dataset.epoch == 0  # counted when the pass starts, as the original generator did
    x, y = next(stream)
    assert dataset.epoch == 1 and x.data.shape == (25, 784) and y.data.shape == (25, 10)
    assert len(list(stream)) == 3
    list(dataset.iterate_once(100))
    assert dataset.epoch == 2


def test_validation_accuracy(tmp_path: Path) -> None:
    arrays = write_fake_cache(tmp_path)
    backend.set_data_dir(tmp_path)
    model = LabelPeekingModel(arrays["dev_labels"], correct=7)
    dataset = backend.DigitClassificationDataset(model)
    accuracy = dataset.get_validation_accuracy()
    assert accuracy == 0.7 and model.calls == 1


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend.data_dir() == KIT_DIR / "data" / "public"
    monkeypatch.setenv("NNGRADE_DATA_DIR", str(tmp_path))  # read at call time, not import time
    assert backend.data_dir() == tmp_path / "public"
    write_fake_cache(tmp_path / "public")
    assert backend.DigitClassificationDataset(model=None).x.shape == (TRAIN_ROWS, 784)
    backend.set_data_dir(tmp_path / "elsewhere")
    assert backend.data_dir() == tmp_path / "elsewhere"
    backend.set_data_dir(None)
    assert backend.data_dir() == tmp_path / "public"


def corrupt(directory: Path, name: str, value: Any) -> None:
    np.save(directory / f"{name}.npy", value)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: os.remove(d / "dev_images.npy"), "cannot read dev_images.npy"),
        (lambda d: (d / "train_images.npy").write_bytes(b"not numpy"), "cannot read train_images.npy"),
        (lambda d: corrupt(d, "train_images", np.zeros((TRAIN_ROWS, 783))), "expected float64 Nx784"),
        (lambda d: corrupt(d, "test_images", np.zeros((TEST_ROWS, 784), np.float32)), "expected float64"),
        (lambda d: corrupt(d, "train_labels", np.zeros(TRAIN_ROWS - 1, np.uint8)), "expected 100 integer labels"),
        (lambda d: corrupt(d, "dev_labels", np.full(DEV_ROWS, 10, np.uint8)), "outside 0-9"),
    ],
)
def test_unusable_cache(tmp_path: Path, damage: Any, message: str) -> None:
    write_fake_cache(tmp_path)
    damage(tmp_path)
    backend.set_data_dir(tmp_path)
    with pytest.raises(backend.DataUnavailableError, match=message) as caught:
        backend.DigitClassificationDataset(model=None)
    assert "nngrade data fetch" in str(caught.value) and str(tmp_path) in str(caught.value)


def test_missing_cache_names_the_directory(tmp_path: Path) -> None:
    backend.set_data_dir(tmp_path / "nothing-here")
    with pytest.raises(backend.DataUnavailableError, match=r"nothing-here.*nngrade data fetch"):
        backend.DigitClassificationDataset(model=None)


# --- progress hook ---------------------------------------------------------------------------------


def test_progress_hook_events(tmp_path: Path) -> None:
    arrays = write_fake_cache(tmp_path)
    backend.set_data_dir(tmp_path)
    events: list[dict[str, Any]] = []
    backend.set_progress_hook(events.append)

    regression = backend.RegressionDataset(model=None)
    list(regression.iterate_once(100))
    list(regression.iterate_once(200))
    digits = backend.DigitClassificationDataset(LabelPeekingModel(arrays["dev_labels"], correct=3))
    stream = digits.iterate_forever(50)
    for _ in range(5):
        next(stream)
    accuracy = digits.get_validation_accuracy()

    assert events == [
        {"event": "epoch", "epoch": 1},
        {"event": "epoch", "epoch": 2},
        {"event": "epoch", "epoch": 1},
        {"event": "epoch", "epoch": 2},
        {"event": "epoch", "epoch": 3},
        {"event": "validation_accuracy", "value": 0.3},
    ]
    assert digits.epoch == 3 and accuracy == 0.3
    backend.set_progress_hook(None)
    list(regression.iterate_once(200))
    assert len(events) == 6


def test_a_failing_hook_changes_nothing_students_see(tmp_path: Path) -> None:
    arrays = write_fake_cache(tmp_path)
    backend.set_data_dir(tmp_path)

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("hook bug")

    backend.set_progress_hook(broken)
    digits = backend.DigitClassificationDataset(LabelPeekingModel(arrays["dev_labels"], correct=10))
    assert len(list(digits.iterate_once(20))) == 5
    assert digits.get_validation_accuracy() == 1.0


def test_no_epoch_event_for_a_rejected_batch_size() -> None:
    events: list[dict[str, Any]] = []
    backend.set_progress_hook(events.append)
    with pytest.raises(backend.DatasetError):
        next(backend.RegressionDataset(model=None).iterate_once(7))
    assert events == []


# --- the real cache --------------------------------------------------------------------------------


def real_cache() -> Path | None:
    root = os.environ.get("NNGRADE_DATA_DIR")
    candidates = [Path(root) / "public"] if root else []
    candidates.append(Path(__file__).resolve().parents[1] / "var" / "data" / "public")
    for directory in candidates:
        if (directory / "train_images.npy").exists():
            return directory
    return None


@pytest.mark.mnist
def test_real_mnist_cache() -> None:
    directory = real_cache()
    if directory is None:
        pytest.skip("MNIST cache absent; run `nngrade data fetch`")
    backend.set_data_dir(directory)
    dataset = backend.DigitClassificationDataset(model=None)
    assert dataset.x.shape == (60000, 784) and dataset.y.shape == (60000, 10)
    assert dataset.dev_images.shape == (5000, 784) and dataset.test_images.shape == (5000, 784)
    assert dataset.dev_labels.shape == (5000,)
    assert float(dataset.x[:1000].min()) >= 0.0 and float(dataset.x[:1000].max()) <= 1.0
    assert np.array_equal(dataset.y[:1000].sum(axis=1), np.ones(1000))
    assert not hasattr(dataset, "test_labels")
