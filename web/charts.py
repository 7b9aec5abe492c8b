"""Feedback pictures: pure functions from report data to PNG bytes, drawn with matplotlib's Agg backend.

Nothing here touches the database or the request; callers pass plain sequences and arrays.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Labels = npt.NDArray[np.integer[Any]]
Q1_POINTS = 200
NUM_DIGITS = 10
INK = "#1f2937"
ACCENT = "#2563eb"
TRUTH = "#9ca3af"
BAD = "#dc2626"
GOOD = "#16a34a"


class ChartDataError(ValueError):
    """The data cannot be drawn (wrong length, wrong shape); the message says what was expected."""


def _english_percent(ratio: float, digits: int) -> str:
    return f"{ratio:.{digits}%}"


def _english_decimal(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


@dataclass(frozen=True)
class ChartWords:
    """Every word the feedback pictures print, and how they print numbers; English by default. The portal
    passes its translations (web/services/feedback.chart_words). Templates use str.format placeholders."""

    your_model: str = "your model"
    curve_title: str = "Learned curve against sin(x)"
    curve_loss: str = "{title}: loss {loss}"
    curve_goal: str = "{title}: loss {loss} (needs ≤ {goal})"
    confusion_title: str = "Confusion matrix on the test images"
    predicted_digit: str = "predicted digit"
    true_digit: str = "true digit"
    log_count: str = "log(1 + count)"
    goal: str = "goal {goal}"
    accuracy_percent: str = "accuracy (%)"
    per_digit_title: str = "Accuracy per digit"
    no_misclassified: str = "No misclassified test images."
    misclassified_title: str = "Misclassified test images (true → predicted)"
    students: str = "students"
    count: str = "submissions"  # the dashboard's distributions count graded submissions
    no_data: str = "no data yet"
    threshold: str = "threshold {threshold}"
    no_failures: str = "no failures"
    percent: Callable[[float, int], str] = _english_percent
    decimal: Callable[[float, int], str] = _english_decimal


ENGLISH = ChartWords()


def _figure(width_in: float, height_in: float) -> Figure:
    # Figure + FigureCanvasAgg, never pyplot: pyplot keeps global state and is not thread-safe.
    fig = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(colors=INK, labelsize=9)
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)


def regression_x() -> npt.NDArray[np.float64]:
    """The 200 q1 inputs in dataset order: evenly spaced on [-2π, 2π], shuffled by RandomState(0)."""
    x = np.linspace(-2 * np.pi, 2 * np.pi, Q1_POINTS).reshape(Q1_POINTS, 1)
    np.random.RandomState(0).shuffle(x)
    return x[:, 0]


def regression_curve_png(predictions: Sequence[float], *, loss: float | None = None,
                         threshold: float | None = None, words: ChartWords = ENGLISH) -> bytes:
    """The learned curve against sin(x); predictions are the 200 outputs in dataset order."""
    if len(predictions) != Q1_POINTS:
        raise ChartDataError(f"q1 needs {Q1_POINTS} predictions in dataset order, got {len(predictions)}")
    x = regression_x()
    y_hat = np.asarray(predictions, dtype=np.float64)
    order = np.argsort(x)
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    _style(ax)
    ax.plot(x[order], np.sin(x[order]), color=TRUTH, linewidth=3, label="sin(x)")
    finite = np.isfinite(y_hat[order])
    ax.plot(x[order][finite], y_hat[order][finite], color=ACCENT, linewidth=1.8, label=words.your_model)
    ax.set_xlabel("x", color=INK)
    ax.set_ylabel("y", color=INK)
    title = words.curve_title
    if loss is not None and math.isfinite(loss):
        shown = words.decimal(loss, 4)
        title = (words.curve_loss.format(title=title, loss=shown) if threshold is None else
                 words.curve_goal.format(title=title, loss=shown, goal=words.decimal(threshold, 2)))
    ax.set_title(title, color=INK, fontsize=11)
    ax.legend(frameon=False, fontsize=9, loc="upper right")
    low = min(-1.5, float(np.nanmin(y_hat[finite])) if finite.any() else -1.5)
    high = max(1.5, float(np.nanmax(y_hat[finite])) if finite.any() else 1.5)
    ax.set_ylim(max(low, -5.0), min(high, 5.0))
    return _png(fig)


def _digit_arrays(predictions: Sequence[float], labels: Labels
                  ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    predicted = np.asarray(predictions, dtype=np.float64)
    truth = np.asarray(labels).astype(np.int64).ravel()
    if predicted.shape != truth.shape:
        raise ChartDataError(f"q2 needs one prediction per test image ({truth.size}), got {predicted.size}")
    if not np.all(np.isfinite(predicted)):
        raise ChartDataError("q2 predictions must be digits 0-9")
    as_int = predicted.astype(np.int64)
    if np.any(as_int != predicted) or np.any((as_int < 0) | (as_int >= NUM_DIGITS)):
        raise ChartDataError("q2 predictions must be digits 0-9")
    return as_int, truth


def confusion_matrix(predictions: Sequence[float], labels: Labels) -> npt.NDArray[np.int64]:
    """Counts with true digits as rows and predicted digits as columns."""
    predicted, truth = _digit_arrays(predictions, labels)
    matrix = np.zeros((NUM_DIGITS, NUM_DIGITS), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def per_digit_accuracy(predictions: Sequence[float], labels: Labels) -> list[float | None]:
    """Accuracy for each true digit; None for a digit absent from the labels."""
    matrix = confusion_matrix(predictions, labels)
    totals = matrix.sum(axis=1)
    return [float(matrix[d, d] / totals[d]) if totals[d] else None for d in range(NUM_DIGITS)]


def confusion_matrix_png(predictions: Sequence[float], labels: Labels, words: ChartWords = ENGLISH) -> bytes:
    """A 10x10 confusion matrix of q2's test predictions (true digits as rows, predicted as columns) as PNG, counts on a
    log scale so the few mistakes stay visible. Raises ChartDataError unless there is one digit 0-9 per label."""
    matrix = confusion_matrix(predictions, labels)
    fig = _figure(5.2, 4.6)
    ax = fig.add_subplot()
    # Log-ish scaling keeps the few mistakes visible next to the large diagonal.
    image = ax.imshow(np.log1p(matrix), cmap="Blues")
    threshold = np.log1p(matrix).max() / 2 if matrix.any() else 0
    for t in range(NUM_DIGITS):
        for p in range(NUM_DIGITS):
            count = int(matrix[t, p])
            if count:
                colour = "white" if np.log1p(count) > threshold else INK
                ax.text(p, t, str(count), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(NUM_DIGITS))
    ax.set_yticks(range(NUM_DIGITS))
    ax.set_xlabel(words.predicted_digit, color=INK)
    ax.set_ylabel(words.true_digit, color=INK)
    ax.set_title(words.confusion_title, color=INK, fontsize=11)
    ax.tick_params(labelsize=9, colors=INK)
    fig.colorbar(image, ax=ax, shrink=0.8, label=words.log_count)
    return _png(fig)


def per_digit_accuracy_png(predictions: Sequence[float], labels: Labels,
                           threshold: float | None = None, words: ChartWords = ENGLISH) -> bytes:
    """q2's test accuracy per digit 0-9 as a bar chart PNG, bars below `threshold` (a ratio) marked, with the goal as a
    line. Raises ChartDataError unless there is one digit 0-9 per label."""
    accuracies = per_digit_accuracy(predictions, labels)
    values = [a if a is not None else 0.0 for a in accuracies]
    fig = _figure(6.4, 3.2)
    ax = fig.add_subplot()
    _style(ax)
    colours = [GOOD if threshold is None or v >= threshold else BAD for v in values]
    bars = ax.bar(range(NUM_DIGITS), [v * 100 for v in values], color=colours)
    for bar, value in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.3, words.percent(value, 1),
                ha="center", va="bottom", fontsize=7, color=INK)
    if threshold is not None:
        ax.axhline(threshold * 100, color=INK, linestyle="--", linewidth=1,
                   label=words.goal.format(goal=words.percent(threshold, 0)))
        ax.legend(frameon=False, fontsize=9, loc="lower right")
    ax.set_xticks(range(NUM_DIGITS))
    ax.set_xlabel(words.true_digit, color=INK)
    ax.set_ylabel(words.accuracy_percent, color=INK)
    lowest = min(values) * 100 if values else 0
    ax.set_ylim(max(0.0, min(lowest - 5, 90.0)), 101)
    ax.set_title(words.per_digit_title, color=INK, fontsize=11)
    return _png(fig)


def misclassified_png(predictions: Sequence[float], labels: Labels,
                      images: npt.NDArray[np.floating[Any]], count: int = 12, words: ChartWords = ENGLISH) -> bytes:
    """A grid of the first `count` misclassified test images, each titled 'true → predicted'."""
    predicted, truth = _digit_arrays(predictions, labels)
    if images.shape[0] != truth.size:
        raise ChartDataError(f"need one image per label ({truth.size}), got {images.shape[0]}")
    wrong = np.flatnonzero(predicted != truth)[:count]
    columns = 6
    rows = max(1, math.ceil(len(wrong) / columns))
    fig = _figure(6.4, 1.25 * rows + 0.4)
    if len(wrong) == 0:
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, words.no_misclassified, ha="center", va="center", color=INK)
        return _png(fig)
    fig.suptitle(words.misclassified_title, color=INK, fontsize=11)
    for slot, index in enumerate(wrong):
        ax = fig.add_subplot(rows, columns, slot + 1)
        ax.imshow(np.asarray(images[index], dtype=np.float64).reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{truth[index]} → {predicted[index]}", fontsize=9, color=BAD)
        ax.axis("off")
    return _png(fig)


def histogram_png(values: Sequence[float], *, title: str, xlabel: str, bins: int = 12,
                  threshold: float | None = None, per_student: bool = False, words: ChartWords = ENGLISH) -> bytes:
    """A distribution for the TA dashboard; an empty sequence draws a 'no data yet' panel."""
    fig = _figure(4.8, 2.8)
    ax = fig.add_subplot()
    _style(ax)
    finite = [v for v in values if math.isfinite(v)]
    if finite:
        ax.hist(finite, bins=bins, color=ACCENT, edgecolor="white")
        if threshold is not None:
            ax.axvline(threshold, color=BAD, linestyle="--", linewidth=1.2,
                       label=words.threshold.format(threshold=words.decimal(threshold, _decimals(threshold))))
            ax.legend(frameon=False, fontsize=8)
    else:
        ax.text(0.5, 0.5, words.no_data, ha="center", va="center", color=TRUTH, transform=ax.transAxes)
    ax.set_title(title, color=INK, fontsize=10)
    ax.set_xlabel(xlabel, color=INK, fontsize=9)
    ax.set_ylabel(words.students if per_student else words.count, color=INK, fontsize=9)
    return _png(fig)


def _decimals(value: float) -> int:
    """How many decimals `value` needs to be shown as it is written (0.02 -> 2, 97.0 -> 0), at most 6."""
    text = f"{value:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def bar_png(counts: Mapping[str, int], *, title: str, words: ChartWords = ENGLISH) -> bytes:
    """Horizontal bars, largest first (failure reasons on the dashboard)."""
    fig = _figure(4.8, max(2.0, 0.35 * len(counts) + 1.0))
    ax = fig.add_subplot()
    _style(ax)
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if items:
        names = [k for k, _ in items][::-1]
        ax.barh(names, [v for _, v in items][::-1], color=BAD)
    else:
        ax.text(0.5, 0.5, words.no_failures, ha="center", va="center", color=TRUTH, transform=ax.transAxes)
    ax.set_title(title, color=INK, fontsize=10)
    return _png(fig)
