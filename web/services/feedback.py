"""Feedback pictures for one submission: which charts a report supports, and their PNG bytes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cachetools
import numpy as np
import numpy.typing as npt

from grader.report import QuestionResult, Report
from web import charts
from web.i18n import fmt_number, fmt_percent, gettext, lazy_gettext

TEST_IMAGES = "public/test_images.npy"
TEST_LABELS = "private/test_labels.npy"


@dataclass(frozen=True)
class ChartSpec:
    """A feedback picture: its name in the URL, its question and the alt text."""

    name: str
    question: str
    alt: Any  # what the picture shows, for screen readers and broken images (a lazy translation)


CHARTS: dict[str, ChartSpec] = {
    spec.name: spec
    for spec in (
        ChartSpec("q1-curve", "q1", lazy_gettext("Your model's learned curve drawn over sin(x) on [-2π, 2π].")),
        ChartSpec("q2-confusion", "q2",
                  lazy_gettext("Confusion matrix: true digits as rows, predicted digits as columns.")),
        ChartSpec("q2-digits", "q2", lazy_gettext("Bar chart of test accuracy for each digit 0 to 9.")),
        ChartSpec("q2-misclassified", "q2",
                  lazy_gettext("A few test images your model got wrong, with true and predicted digit.")),
    )
}


def chart_words() -> charts.ChartWords:
    """The pictures' words and number notation in the request's language."""
    return charts.ChartWords(
        your_model=gettext("your model"),
        curve_title=gettext("Learned curve against sin(x)"),
        curve_loss=gettext("{title}: loss {loss}"),
        curve_goal=gettext("{title}: loss {loss} (needs ≤ {goal})"),
        confusion_title=gettext("Confusion matrix on the test images"),
        predicted_digit=gettext("predicted digit"),
        true_digit=gettext("true digit"),
        log_count=gettext("log(1 + count)"),
        goal=gettext("goal {goal}"),
        accuracy_percent=gettext("accuracy (%)"),
        per_digit_title=gettext("Accuracy per digit"),
        no_misclassified=gettext("No misclassified test images."),
        misclassified_title=gettext("Misclassified test images (true → predicted)"),
        students=gettext("students"),
        count=gettext("submissions"),
        no_data=gettext("no data yet"),
        threshold=gettext("threshold {threshold}"),
        no_failures=gettext("no failures"),
        percent=lambda ratio, digits: fmt_percent(ratio, digits),
        decimal=lambda value, digits: fmt_number(value, digits),
    )


class ChartUnavailable(LookupError):
    """This submission has no data for the chart, or the host lacks the test data."""


def counted(report: Report, question: str) -> QuestionResult | None:
    """The report's result for `question`, or None when it was not graded."""
    return next((q for q in report.questions if q.question == question), None)


def available_charts(report: Report | None, data_dir: Path) -> list[ChartSpec]:
    """The pictures `report` has data for: q1's curve when it holds the 200 predictions, q2's when it has predictions
    and the host has the test labels (and images, for the misclassified digits)."""
    if report is None:
        return []
    names: list[str] = []
    q1 = counted(report, "q1")
    if q1 is not None and len(q1.counted.predictions) == charts.Q1_POINTS:
        names.append("q1-curve")
    q2 = counted(report, "q2")
    if q2 is not None and q2.counted.predictions and (data_dir / TEST_LABELS).exists():
        names += ["q2-confusion", "q2-digits"]
        if (data_dir / TEST_IMAGES).exists():
            names.append("q2-misclassified")
    return [CHARTS[n] for n in names]


def digit_summary(report: Report | None, data_dir: Path) -> list[tuple[int, float | None]] | None:
    """Per-digit accuracy as a table, next to the chart, so the numbers are readable without the picture."""
    if report is None:
        return None
    q2 = counted(report, "q2")
    if q2 is None or not q2.counted.predictions or not (data_dir / TEST_LABELS).exists():
        return None
    try:
        values = charts.per_digit_accuracy(q2.counted.predictions, _labels(str(data_dir)))
    except charts.ChartDataError:
        return None
    return list(enumerate(values))


@lru_cache(maxsize=2)
def _labels(data_dir: str) -> npt.NDArray[np.integer[Any]]:
    labels: npt.NDArray[np.integer[Any]] = np.load(Path(data_dir) / TEST_LABELS, allow_pickle=False)
    return labels


@lru_cache(maxsize=2)
def _images(data_dir: str) -> npt.NDArray[np.floating[Any]]:
    images: npt.NDArray[np.floating[Any]] = np.load(Path(data_dir) / TEST_IMAGES, mmap_mode="r",
                                                    allow_pickle=False)
    return images


def render_chart(report: Report, name: str, data_dir: Path, words: charts.ChartWords = charts.ENGLISH) -> bytes:
    """The picture `name` of `report` as PNG, its words in `words`; ChartUnavailable when it has no data."""
    if name not in {c.name for c in available_charts(report, data_dir)}:
        raise ChartUnavailable(name)
    q1, q2 = counted(report, "q1"), counted(report, "q2")
    try:
        if name == "q1-curve" and q1 is not None:
            return charts.regression_curve_png(q1.counted.predictions, loss=q1.counted.metric_value,
                                               threshold=q1.threshold, words=words)
        if q2 is not None:
            predictions = q2.counted.predictions
            labels = _labels(str(data_dir))
            if name == "q2-confusion":
                return charts.confusion_matrix_png(predictions, labels, words)
            if name == "q2-digits":
                return charts.per_digit_accuracy_png(predictions, labels, threshold=q2.threshold, words=words)
            if name == "q2-misclassified":
                return charts.misclassified_png(predictions, labels, _images(str(data_dir)), words=words)
    except charts.ChartDataError as exc:
        raise ChartUnavailable(str(exc)) from exc
    raise ChartUnavailable(name)


def png_cache(max_bytes: int) -> Callable[[tuple[Any, ...], Callable[[], bytes]], bytes]:
    """`get_or_render(key, render)`: the PNG bytes `render()` makes, kept by `key` (what determines the
    picture; stored reports never change) while the cache holds under `max_bytes`, least recently used out
    first. Thread-safe; a picture larger than the whole cache is returned and not kept (cachetools)."""

    @cachetools.cached(cachetools.LRUCache(maxsize=max_bytes, getsizeof=len), key=lambda key, render: key,
                       lock=threading.Lock())
    def get_or_render(key: tuple[Any, ...], render: Callable[[], bytes]) -> bytes:
        return render()

    return get_or_render
