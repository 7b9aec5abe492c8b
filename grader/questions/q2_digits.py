"""q2: classify MNIST digits; full credit at 97% accuracy on the 5,000 held-out test images.

Where the test labels are not available (a student's machine), the same rule runs on the 5,000 validation
images instead, and the result says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from grader import integrity
from grader.questions.base import CheckFailed, HostDataError, Measurement, Question, register

if TYPE_CHECKING:
    from grader.challenge import CopyKey
    from grader.report import IntegrityCheck

TEST_IMAGES = 5000
CLASSES = 10
# The images each split predicts, as the backend's DigitClassificationDataset names them.
SPLIT_IMAGES = {"test": "test_images", "validation": "dev_images"}
# The validation labels, where the runner's backend finds them: the cache's public part, as an .npy file on
# the server or inside the compressed public bundle the starter kit downloads (grader/kit/backend.py).
PUBLIC_DIR = "public"
VALIDATION_LABELS = "dev_labels"
PUBLIC_BUNDLE = "mnist-public.npz"


@register
class DigitClassificationQuestion(Question):
    id = "q2"
    title = "Digit classification (MNIST)"
    model_class = "DigitClassificationModel"
    output_width = CLASSES
    loss_class = "SoftmaxLoss"
    metric_name = "accuracy"
    threshold = 0.97
    comparison = ">="
    needs_mnist = True
    copy_source = "test_images.npy"

    def make_dataset(self, backend: ModuleType, model: Any) -> Any:
        return backend.DigitClassificationDataset(model)

    def evaluate(self, nn: ModuleType, model: Any, dataset: Any, split: str = "test") -> dict[str, Any]:
        return {"predictions": _predicted_digits(nn, model, getattr(dataset, SPLIT_IMAGES[split]), split)}

    def predict_copy(self, nn: ModuleType, model: Any, images: Any) -> dict[str, Any]:
        return {"predictions": _predicted_digits(nn, model, images, "copied test")}

    def judge_copy(
        self, copy_result: Any, key: CopyKey, data_dir: Path, measured: Measurement
    ) -> IntegrityCheck | None:
        # Only after a measurement on the test split, so the labels were just read: a failure here is ours.
        return integrity.judge_copy(measured.predictions, copy_result, _labels(data_dir, "test"), key,
                                    passing_accuracy=self.threshold)

    def metric(self, evaluation: Mapping[str, Any], data_dir: Path, split: str = "test") -> Measurement:
        predictions = evaluation.get("predictions")
        if not isinstance(predictions, list) or len(predictions) != TEST_IMAGES:
            raise CheckFailed(f"expected {TEST_IMAGES} predicted digits")
        if not all(type(v) is int and 0 <= v < CLASSES for v in predictions):
            raise CheckFailed("predicted digits must be integers from 0 to 9")
        labels = _labels(data_dir, split)
        accuracy = float(np.mean(np.asarray(predictions) == labels))
        return Measurement(accuracy, tuple(float(v) for v in predictions))


def _predicted_digits(nn: ModuleType, model: Any, images: Any, split: str) -> list[int]:
    """The arg-max of the model's scores for each of the images (sandbox); CheckFailed on a wrong shape."""
    logits = model.run(nn.Constant(images)).data
    if getattr(logits, "ndim", 0) != 2 or logits.shape != (TEST_IMAGES, CLASSES):
        raise CheckFailed(
            "DigitClassificationModel.run() should return an object with shape {expected} for the {split} "
            "images, got {actual}", expected=nn.format_shape((TEST_IMAGES, CLASSES)), split=split,
            actual=nn.format_shape(getattr(logits, "shape", ())))
    return [int(v) for v in np.argmax(logits, axis=1)]


def _labels(data_dir: Path, split: str) -> npt.NDArray[Any]:
    """The labels of the split's images; HostDataError when they cannot be read."""
    if split == "test":
        # Imported here: the starter kit scores on validation and carries no MNIST cache code.
        from grader.mnist import MnistDataError, load_test_labels

        try:
            return load_test_labels(data_dir)
        except (MnistDataError, OSError, ValueError) as exc:
            raise HostDataError(str(exc)) from exc
    public = Path(data_dir) / PUBLIC_DIR
    try:
        if (public / f"{VALIDATION_LABELS}.npy").exists() or not (public / PUBLIC_BUNDLE).is_file():
            labels: npt.NDArray[Any] = np.load(public / f"{VALIDATION_LABELS}.npy", allow_pickle=False)
        else:
            with np.load(public / PUBLIC_BUNDLE, allow_pickle=False) as bundle:
                labels = bundle[VALIDATION_LABELS]
    except (OSError, ValueError, KeyError) as exc:
        raise HostDataError(f"cannot read the validation labels in {public}: {exc}") from exc
    if labels.shape != (TEST_IMAGES,):
        raise HostDataError(f"the validation labels in {public} are {labels.shape}, not {TEST_IMAGES} labels")
    return labels
