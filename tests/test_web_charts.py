"""Feedback pictures are valid PNGs; the starter kit's contents. (Upload checks: tests/test_source.py.)"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from web import charts
from web.services.feedback import png_cache

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(data: bytes) -> None:
    assert data.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
        assert image.size[0] > 200 and image.size[1] > 100


def test_regression_x_matches_the_dataset_order() -> None:
    x = charts.regression_x()
    assert x.shape == (200,)
    assert np.allclose(np.sort(x), np.linspace(-2 * np.pi, 2 * np.pi, 200))
    assert not np.allclose(x, np.sort(x))


def test_q1_curve_is_a_png() -> None:
    _assert_png(charts.regression_curve_png(np.sin(charts.regression_x()).tolist(), loss=0.004, threshold=0.02))
    _assert_png(charts.regression_curve_png([float("nan")] * 200))
    with pytest.raises(charts.ChartDataError):
        charts.regression_curve_png([0.0] * 10)


def test_q2_pictures_are_pngs_and_numbers_are_right() -> None:
    labels = np.arange(100) % 10
    predictions = [float(v) for v in labels]
    predictions[3] = 4.0
    matrix = charts.confusion_matrix(predictions, labels)
    assert matrix.sum() == 100 and matrix[3, 4] == 1 and matrix[3, 3] == 9
    assert charts.per_digit_accuracy(predictions, labels)[3] == pytest.approx(0.9)
    images = np.random.RandomState(0).rand(100, 784)
    _assert_png(charts.confusion_matrix_png(predictions, labels))
    _assert_png(charts.per_digit_accuracy_png(predictions, labels, threshold=0.97))
    _assert_png(charts.misclassified_png(predictions, labels, images))
    _assert_png(charts.misclassified_png([float(v) for v in labels], labels, images))
    with pytest.raises(charts.ChartDataError):
        charts.confusion_matrix([11.0] * 100, labels)


def test_dashboard_charts_are_pngs() -> None:
    _assert_png(charts.histogram_png([1.0, 2.0, 12.0], title="Current scores", xlabel="points"))
    _assert_png(charts.histogram_png([], title="empty", xlabel="x"))
    _assert_png(charts.bar_png({"q2: below threshold": 3, "q1: error": 1}, title="Failures"))
    _assert_png(charts.bar_png({}, title="Failures"))


@pytest.mark.parametrize(("threshold", "shown"), [(0.02, "umbral 0,02"), (97.0, "umbral 97"), (0.125, "umbral 0,125")])
def test_a_histograms_threshold_is_written_in_the_readers_notation(
    monkeypatch: pytest.MonkeyPatch, threshold: float, shown: str,
) -> None:
    from matplotlib.axes import Axes

    labels: list[str] = []
    original = Axes.axvline

    def record(self: Axes, *args: object, **kwargs: object) -> object:
        labels.append(str(kwargs.get("label")))
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Axes, "axvline", record)
    spanish = charts.ChartWords(threshold="umbral {threshold}", decimal=lambda v, d: f"{v:.{d}f}".replace(".", ","))
    _assert_png(charts.histogram_png([0.01, 0.5, 99.0], title="t", xlabel="x", threshold=threshold, words=spanish))
    assert labels == [shown]


def test_the_picture_cache_renders_once_per_key_and_holds_a_bounded_number_of_bytes() -> None:
    renders: list[str] = []

    def render(name: str, size: int) -> bytes:
        renders.append(name)
        return name.encode()[:1] * size

    get_or_render = png_cache(max_bytes=100)
    assert get_or_render(("a",), lambda: render("a", 40)) == b"a" * 40
    assert get_or_render(("a",), lambda: render("a", 40)) == b"a" * 40
    assert get_or_render(("b",), lambda: render("b", 40)) == b"b" * 40
    assert renders == ["a", "b"]
    get_or_render(("a",), lambda: render("a", 40))  # a is now the most recently used
    get_or_render(("c",), lambda: render("c", 40))  # 120 bytes: the least recently used (b) goes
    get_or_render(("a",), lambda: render("a", 40))
    get_or_render(("b",), lambda: render("b", 40))
    assert renders == ["a", "b", "c", "b"]
    # Larger than the whole cache: served, never kept, and nothing else is pushed out for it.
    assert get_or_render(("huge",), lambda: render("huge", 500)) == b"h" * 500
    get_or_render(("huge",), lambda: render("huge", 500))
    get_or_render(("b",), lambda: render("b", 40))
    assert renders == ["a", "b", "c", "b", "huge", "huge"]
