"""The datasets students train on (imported as ``backend``): sin(x) regression and MNIST digits.

Same API and batching as the course's original module, minus the live plots: nothing here opens a
window. MNIST comes from the public part of nngrade's data cache, memory-mapped copy-on-write so
concurrent graders share pages. Imports numpy, the standard library and ``nn`` only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    # mypy checks this file as grader.kit.backend; naming nn the same way keeps one module per file.
    from grader.kit import nn
else:
    import nn  # the top-level module student code imports, so isinstance checks agree

__all__ = [
    "DataUnavailableError",
    "Dataset",
    "DatasetError",
    "DigitClassificationDataset",
    "RegressionDataset",
    "data_dir",
    "regression_targets",
    "set_data_dir",
    "set_progress_hook",
    "use_graphics",
]

use_graphics = False  # The original autograder sets this; here there is never anything to draw.

KIT_DIR = Path(__file__).resolve().parent
DATA_DIR_ENV = "NNGRADE_DATA_DIR"
# The public MNIST data as one compressed file of pixel bytes, for students' machines (the starter kit's
# check.py downloads it); read when the directory has no .npy cache.
PUBLIC_BUNDLE = "mnist-public.npz"
REGRESSION_POINTS = 200
IMAGE_PIXELS = 784
DIGIT_CLASSES = 10

ProgressHook = Callable[[dict[str, Any]], None]

_data_dir: Path | None = None
_progress_hook: ProgressHook | None = None


class DatasetError(ValueError, AssertionError):
    """Bad dataset arrays or batch size (an AssertionError too, as the original asserted)."""


class DataUnavailableError(RuntimeError):
    """The MNIST cache is missing or malformed."""


def set_data_dir(path: str | os.PathLike[str] | None) -> None:
    """Read MNIST from this directory (the cache's ``public`` part); None restores the default."""
    global _data_dir
    _data_dir = None if path is None else Path(path)


def data_dir() -> Path:
    """Where MNIST is read from: `set_data_dir`, else $NNGRADE_DATA_DIR/public, else <kit>/data/public."""
    if _data_dir is not None:
        return _data_dir
    root = os.environ.get(DATA_DIR_ENV)
    if root:
        return Path(root) / "public"
    return KIT_DIR / "data" / "public"


def set_progress_hook(hook: ProgressHook | None) -> None:
    """Call ``hook(event)`` on each new pass over a dataset and after each validation accuracy.

    Events: ``{"event": "epoch", "epoch": n}`` and ``{"event": "validation_accuracy", "value": acc}``.
    Exceptions from the hook are swallowed so that it can never change what student code sees.
    """
    global _progress_hook
    _progress_hook = hook


def _emit(event: dict[str, Any]) -> None:
    hook = _progress_hook
    if hook is None:
        return
    with contextlib.suppress(Exception):  # a reporting problem must never reach student code
        hook(event)


class Dataset:
    """Inputs ``x`` (N×F) and targets ``y`` (N×C) served as batches of `nn.Constant`s in stored order."""

    def __init__(self, x: Any, y: Any) -> None:
        for name, array in (("x", x), ("y", y)):
            if not isinstance(array, np.ndarray):
                raise DatasetError(
                    f"Dataset {name} must be a numpy array, instead got {type(array).__name__}"
                )
            if not np.issubdtype(array.dtype, np.floating):
                raise DatasetError(
                    f"Dataset {name} must have a float dtype (convert with .astype(np.float64)), "
                    f"instead got {array.dtype}"
                )
            if array.ndim != 2:
                raise DatasetError(
                    f"Dataset {name} must be 2-D (examples x features), "
                    f"instead got shape {nn.format_shape(array.shape)}"
                )
        if x.shape[0] != y.shape[0]:
            raise DatasetError(
                f"Dataset x and y must have the same number of rows, "
                f"instead got {x.shape[0]} and {y.shape[0]}"
            )
        self.x = x
        self.y = y
        self._passes = 0

    def _begin_pass(self) -> int:
        self._passes = getattr(self, "_passes", 0) + 1
        return self._passes

    def iterate_once(self, batch_size: int) -> Iterator[tuple[nn.Constant, nn.Constant]]:
        """One pass over the data: ``for x, y in dataset.iterate_once(batch_size): ...``.

        ``batch_size`` must be a positive int dividing the number of examples.
        """
        pass_number = self._begin_pass()
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise DatasetError(f"Batch size must be a positive Python int, instead got {batch_size!r}")
        size = self.x.shape[0]
        if size % batch_size != 0:
            raise DatasetError(
                f"Dataset size {size} is not divisible by batch size {batch_size}; "
                f"pick a batch size that divides {size}"
            )
        _emit({"event": "epoch", "epoch": pass_number})
        index = 0
        while index < self.x.shape[0]:
            x = self.x[index : index + batch_size]
            y = self.y[index : index + batch_size]
            yield nn.Constant(x), nn.Constant(y)
            index += batch_size

    def iterate_forever(self, batch_size: int) -> Iterator[tuple[nn.Constant, nn.Constant]]:
        """`iterate_once` repeated without end."""
        while True:
            yield from self.iterate_once(batch_size)

    def get_validation_accuracy(self) -> Any:
        """Accuracy on the validation set; this dataset has none."""
        raise NotImplementedError(
            "This dataset has no validation data; use the training loss to decide when to stop"
        )


class RegressionDataset(Dataset):
    """200 points of y = sin(x) on [-2π, 2π], shuffled once with a fixed seed (q1)."""

    def __init__(self, model: Any) -> None:
        x = np.expand_dims(np.linspace(-2 * np.pi, 2 * np.pi, num=REGRESSION_POINTS), axis=1)
        np.random.RandomState(0).shuffle(x)
        self.argsort_x = np.argsort(x.flatten())
        # The same shuffle of the point indices puts the targets in x's order.
        order = np.arange(REGRESSION_POINTS)
        np.random.RandomState(0).shuffle(order)
        y = regression_targets()[order]
        super().__init__(x, y)
        self.model = model
        self.processed = 0

    def iterate_once(self, batch_size: int) -> Iterator[tuple[nn.Constant, nn.Constant]]:
        for x, y in super().iterate_once(batch_size):
            yield x, y
            self.processed += batch_size


def regression_targets() -> Any:
    """sin(x) for the 200 points np.linspace(-2π, 2π, 200), as a 200×1 column in that order.

    Read from regression_targets.txt beside this file: the exact float64 values of the course's environment,
    so every machine trains on the same bits whatever its CPU's own sin rounds to.
    """
    lines = (KIT_DIR / "regression_targets.txt").read_text(encoding="utf-8").splitlines()
    values = [float.fromhex(line) for line in lines if line and not line.startswith("#")]
    if len(values) != REGRESSION_POINTS:
        raise DataUnavailableError(f"regression_targets.txt holds {len(values)} values, expected {REGRESSION_POINTS}")
    return np.array(values, dtype=np.float64).reshape(REGRESSION_POINTS, 1)


class DigitClassificationDataset(Dataset):
    """MNIST (q2): 60,000 training images with one-hot labels, 5,000 validation and 5,000 test images.

    Images are rows of 784 floats in [0, 1]. The test labels are deliberately absent.
    """

    def __init__(self, model: Any) -> None:
        directory = data_dir()
        train_images = _load_images(directory, "train_images.npy")
        train_labels = _load_labels(directory, "train_labels.npy", train_images.shape[0])
        self.dev_images = _load_images(directory, "dev_images.npy")
        self.dev_labels = _load_labels(directory, "dev_labels.npy", self.dev_images.shape[0])
        self.test_images = _load_images(directory, "test_images.npy")

        one_hot = np.zeros((train_images.shape[0], DIGIT_CLASSES))
        one_hot[np.arange(train_images.shape[0]), train_labels] = 1
        super().__init__(train_images, one_hot)
        self.model = model
        self.epoch = 0

    def _begin_pass(self) -> int:
        self.epoch += 1
        return self.epoch

    def get_validation_accuracy(self) -> Any:
        """Fraction of the 5,000 validation images whose arg-max of ``model.run`` is the label."""
        dev_logits = self.model.run(nn.Constant(self.dev_images)).data
        dev_predicted = np.argmax(dev_logits, axis=1)
        accuracy = np.mean(dev_predicted == self.dev_labels)
        _emit({"event": "validation_accuracy", "value": float(accuracy)})
        return accuracy


def _unavailable(directory: Path, problem: str) -> DataUnavailableError:
    return DataUnavailableError(
        f"MNIST cache in {directory} is not usable ({problem}); run `nngrade data fetch` to create it"
    )


def _from_bundle(directory: Path, name: str) -> Any:
    """One array of the public bundle: pixels become floats in [0, 1] exactly as the server's cache has them."""
    key = name[: -len(".npy")]
    with np.load(directory / PUBLIC_BUNDLE, allow_pickle=False) as bundle:
        if key not in bundle.files:
            raise ValueError(f"{PUBLIC_BUNDLE} has no {key}")
        array = bundle[key]
    if key.endswith("_images"):
        images = array.reshape(array.shape[0], -1).astype(np.float64)
        images /= 255.0
        return images
    return array


def _read(directory: Path, name: str, mmap_mode: Any = None) -> Any:
    if not (directory / name).exists() and (directory / PUBLIC_BUNDLE).is_file():
        return _from_bundle(directory, name)
    return np.load(directory / name, mmap_mode=mmap_mode, allow_pickle=False)


def _load_images(directory: Path, name: str) -> np.ndarray[Any, Any]:
    try:
        images = _read(directory, name, mmap_mode="c")
    except (OSError, ValueError, EOFError) as error:
        raise _unavailable(directory, f"cannot read {name}: {error}") from None
    if images.dtype != np.float64 or images.ndim != 2 or images.shape[1] != IMAGE_PIXELS:
        raise _unavailable(
            directory,
            f"{name} holds {images.dtype} {nn.format_shape(images.shape)}, "
            f"expected float64 Nx{IMAGE_PIXELS}",
        )
    view: np.ndarray[Any, Any] = images.view(np.ndarray)
    return view


def _load_labels(directory: Path, name: str, count: int) -> np.ndarray[Any, Any]:
    try:
        labels: np.ndarray[Any, Any] = _read(directory, name)
    except (OSError, ValueError, EOFError) as error:
        raise _unavailable(directory, f"cannot read {name}: {error}") from None
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (count,):
        raise _unavailable(
            directory,
            f"{name} holds {labels.dtype} {nn.format_shape(labels.shape)}, expected {count} integer labels",
        )
    if count and (labels.min() < 0 or labels.max() >= DIGIT_CLASSES):
        raise _unavailable(directory, f"{name} has labels outside 0-{DIGIT_CLASSES - 1}")
    return labels
