"""q2: classify MNIST digits; full credit at 97% accuracy on the 5,000 held-out test images."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.mnist import load_test_labels
from grader.questions.base import CheckFailed, Question, register

TEST_IMAGES = 5000
CLASSES = 10


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

    def make_dataset(self, backend: ModuleType, model: Any) -> Any:
        return backend.DigitClassificationDataset(model)

    def evaluate(self, nn: ModuleType, model: Any, dataset: Any) -> dict[str, Any]:
        logits = model.run(nn.Constant(dataset.test_images)).data
        if getattr(logits, "ndim", 0) != 2 or logits.shape != (TEST_IMAGES, CLASSES):
            raise CheckFailed(
                "DigitClassificationModel.run() should return an object with shape "
                f"{nn.format_shape((TEST_IMAGES, CLASSES))} for the test images, "
                f"got {nn.format_shape(getattr(logits, 'shape', ()))}"
            )
        return {"predictions": [int(v) for v in np.argmax(logits, axis=1)]}

    def metric(self, evaluation: Mapping[str, Any], data_dir: Path) -> float:
        predictions = evaluation.get("predictions")
        if not isinstance(predictions, list) or len(predictions) != TEST_IMAGES:
            raise CheckFailed(f"expected {TEST_IMAGES} predicted digits")
        if not all(type(v) is int and 0 <= v < CLASSES for v in predictions):
            raise CheckFailed("predicted digits must be integers from 0 to 9")
        labels = load_test_labels(data_dir)
        return float(np.mean(np.asarray(predictions) == labels))
