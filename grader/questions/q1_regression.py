"""q1: fit sin(x) on [-2π, 2π]; full credit when the loss over the 200 points is at most 0.02.

As in the course, the loss is computed on `dataset.x` and `dataset.y` as `train()` left them, in that row
order: students reshuffle both together or sort them by x to plot, and that is fine. Their values are not
the student's to change: the host accepts only the original 200 inputs (in any order) with their targets,
and scores against the backend's own targets (a table, the same bits on every machine).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from grader.questions.base import CheckFailed, Measurement, Question, expect_loss, expect_node, register

REGRESSION_POINTS = 200
# The backend's targets: the course environment's exact sin values (grader/kit/regression_targets.txt).
TARGETS_TABLE = Path(__file__).resolve().parent.parent / "kit" / "regression_targets.txt"
# How far a target train() left may be from the table and still count as unchanged: a y recomputed as
# np.sin(dataset.x) on another CPU or NumPy rounds differently in the last bit. Any change that could move
# the loss is far larger; the loss itself always uses the table's values.
TARGET_TOLERANCE = 1e-12
REORDER_ADVICE = (
    "Reordering the rows of dataset.x and dataset.y together is fine; changing, adding or dropping points is not."
)


def regression_inputs() -> npt.NDArray[np.float64]:
    """The course's 200 inputs as the backend builds them (200×1, shuffled once with a fixed seed)."""
    x = np.expand_dims(np.linspace(-2 * np.pi, 2 * np.pi, num=REGRESSION_POINTS), axis=1)
    np.random.RandomState(0).shuffle(x)
    return x


def regression_data() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The course's regression dataset exactly as the backend builds it, on any machine: the inputs, and their
    targets from the course environment's table of sin values, in the same shuffled order."""
    order = np.arange(REGRESSION_POINTS)
    np.random.RandomState(0).shuffle(order)
    lines = TARGETS_TABLE.read_text(encoding="utf-8").splitlines()
    table = np.array([float.fromhex(line) for line in lines if line and not line.startswith("#")])
    return regression_inputs(), table.reshape(REGRESSION_POINTS, 1)[order]


@register
class RegressionQuestion(Question):
    id = "q1"
    title = "Regression: fit sin(x)"
    model_class = "RegressionModel"
    output_width = 1
    loss_class = "SquareLoss"
    metric_name = "loss"
    threshold = 0.02
    comparison = "<="

    def make_dataset(self, backend: ModuleType, model: Any) -> Any:
        return backend.RegressionDataset(model)

    def evaluate(self, nn: ModuleType, model: Any, dataset: Any, split: str = "test") -> dict[str, Any]:
        # Same order as the course's autograder: the model's own loss first, then its predictions, both on
        # the dataset as train() left it.
        x = _left_array(dataset, "x")
        y = _left_array(dataset, "y")
        loss = model.get_loss(nn.Constant(x), nn.Constant(y))
        expect_loss(nn, loss, "RegressionModel.get_loss()")
        reported = nn.as_scalar(loss)
        predicted = model.run(nn.Constant(x))
        expect_node(nn, predicted, "RegressionModel.run()", (x.shape[0], 1))
        return {
            "reported_loss": float(reported),
            "predictions": _floats(predicted.data),
            "inputs": _floats(x),
            "targets": _floats(y),
        }

    def metric(self, evaluation: Mapping[str, Any], data_dir: Path, split: str = "test") -> Measurement:
        predictions = _float_column(evaluation.get("predictions"), "RegressionModel.run() returned")
        inputs = _float_column(evaluation.get("inputs"), "dataset.x holds")
        targets = _float_column(evaluation.get("targets"), "dataset.y holds")
        reported = evaluation.get("reported_loss")
        if not isinstance(reported, (int, float)) or isinstance(reported, bool):
            raise CheckFailed("RegressionModel.get_loss() did not report a number")
        rows = scored_rows(inputs, targets)
        # The course's formula over the rows in the order they were scored, with the backend's own targets
        # for those rows; recomputed from the predictions, so a hard-coded get_loss() cannot pass.
        loss = float(0.5 * np.mean((predictions - regression_data()[1][rows]) ** 2))
        if not np.isclose(reported, loss) and not (np.isnan(reported) and np.isnan(loss)):
            raise CheckFailed(
                "RegressionModel.get_loss() returned a loss of {reported:.4f}, but the autograder computed "
                "a loss of {loss:.4f} based on the output of RegressionModel.run()",
                reported=float(reported), loss=loss,
            )
        in_dataset_order = np.empty(REGRESSION_POINTS)
        in_dataset_order[rows] = predictions[:, 0]
        return Measurement(loss, tuple(float(v) for v in in_dataset_order))

    def scored_on(self, split: str) -> str:
        return "training"


def scored_rows(inputs: npt.NDArray[np.float64], targets: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """For each scored row, its index in the dataset as built; CheckFailed naming what train() changed.

    The inputs must be the original 200 points bit for bit, each once; each target must still be the
    backend's target for its input (within TARGET_TOLERANCE).
    """
    x, y = regression_data()
    original = {value.hex(): index for index, value in enumerate(x[:, 0].tolist())}
    rows = np.empty(REGRESSION_POINTS, dtype=np.intp)
    strangers: list[int] = []
    first_row: dict[int, int] = {}
    for row, value in enumerate(inputs[:, 0].tolist()):
        index = original.get(value.hex())
        if index is None:
            strangers.append(row)
            continue
        if index in first_row:
            raise CheckFailed(
                f"train() changed dataset.x: the point x = {value!r} appears more than once (rows "
                f"{first_row[index]} and {row}), so some original points are missing. {REORDER_ADVICE}"
            )
        first_row[index] = row
        rows[row] = index
    if strangers:
        row = strangers[0]
        raise CheckFailed(
            f"train() changed dataset.x: {len(strangers)} of its {REGRESSION_POINTS} rows are not original "
            f"points (row {row} holds {inputs[row, 0]!r}). {REORDER_ADVICE}"
        )
    expected = y[rows]
    wrong = np.flatnonzero(~(np.abs(targets - expected) <= TARGET_TOLERANCE))
    if wrong.size:
        row = int(wrong[0])
        raise CheckFailed(
            f"train() changed dataset.y: {wrong.size} of its rows no longer hold sin of their x (row {row} "
            f"holds {targets[row, 0]!r} for x = {inputs[row, 0]!r}, where sin(x) = {expected[row, 0]!r}). "
            f"{REORDER_ADVICE}"
        )
    return rows


def _left_array(dataset: Any, name: str) -> Any:
    """dataset.x or dataset.y as train() left it, if it can still be scored (sandbox)."""
    array = getattr(dataset, name, None)
    if not isinstance(array, np.ndarray):
        raise CheckFailed(
            f"train() replaced dataset.{name} with {type(array).__name__}; the grader scores the dataset's "
            f"{REGRESSION_POINTS}x1 float64 arrays. {REORDER_ADVICE}"
        )
    if array.shape != (REGRESSION_POINTS, 1) or array.dtype != np.float64:
        shape = "x".join(str(n) for n in array.shape) or "()"
        raise CheckFailed(
            f"train() left dataset.{name} as {array.dtype} {shape}; the grader scores the dataset's "
            f"{REGRESSION_POINTS}x1 float64 arrays. {REORDER_ADVICE}"
        )
    return array


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _float_column(values: Any, what: str) -> npt.NDArray[np.float64]:
    if not isinstance(values, list) or len(values) != REGRESSION_POINTS:
        raise CheckFailed(f"expected {REGRESSION_POINTS} numbers where {what}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise CheckFailed(f"expected numbers where {what}")
    return np.asarray(values, dtype=np.float64).reshape(REGRESSION_POINTS, 1)
