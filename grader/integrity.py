"""The integrity check's verdict on one q2 attempt: the graded accuracy against the accuracy on the copy.

A model that learned digits classifies the copy (grader.challenge) about as well as the graded images; a
submission that looks the graded images up cannot. The attempt is flagged for staff review when the gap is above
`GAP_THRESHOLD`; or above `PASSING_GAP_THRESHOLD` when the graded accuracy meets the question's threshold and
the copy's would not (the lookup that earns the points); or when the model predicted the graded images and then
not the copy. Points never change here. Host side: the predictions come from the sandbox and are untrusted; the
labels and the key never left the host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from grader.challenge import CopyKey
from grader.report import COPY_STATUSES, CopyStatus, IntegrityCheck

# docs/INTEGRITY.md: genuine models lost at most 1.2 points of accuracy on the copy (those that pass q2 at most
# 0.3), the lookups at least 8.9.
GAP_THRESHOLD = 0.03
PASSING_GAP_THRESHOLD = 0.015
CLASSES = 10
MAX_DETAIL_CHARS = 500


def judge_copy(
    graded_predictions: Sequence[float],
    copy_result: Any,
    labels: npt.NDArray[Any],
    key: CopyKey,
    passing_accuracy: float | None = None,
) -> IntegrityCheck:
    """Compare the accuracy on the graded images with the accuracy on their copy.

    graded_predictions: the digit predicted for each graded image, in the graded order (already validated).
    copy_result: the attempt's report on the copy, untrusted: {"status": "ok", "predictions": [digit per copy
        row], "cpu_s": s}, or {"status": why not, "message" or "error": ...}, or anything else (then "missing").
    labels: the graded images' labels; key: the copy's key (which graded image each copy row is).
    passing_accuracy: the question's threshold (an accuracy), for the stricter rule on attempts that pass.
    """
    graded = np.asarray(graded_predictions, dtype=np.int64)
    graded_accuracy = float(np.mean(graded == labels))
    base: dict[str, Any] = {"graded_accuracy": graded_accuracy, "threshold": GAP_THRESHOLD, "copy": key.describe()}
    if not isinstance(copy_result, Mapping):
        return _unpredicted("missing", "the attempt sent no prediction of the copy", base)
    cpu_s = copy_result.get("cpu_s")
    base["copy_cpu_s"] = float(cpu_s) if isinstance(cpu_s, (int, float)) and not isinstance(cpu_s, bool) else None
    status = copy_result.get("status")
    if status != "ok":
        known: CopyStatus = status if status in COPY_STATUSES else "missing"
        return _unpredicted(known, _detail(copy_result), base)
    predictions = copy_result.get("predictions")
    if not (isinstance(predictions, list) and len(predictions) == key.images
            and all(type(v) is int and 0 <= v < CLASSES for v in predictions)):
        return _unpredicted("failed_check", f"the copy's predictions are not {key.images} digits from 0 to 9", base)
    # Back to the graded order: copy row i is graded image order[i].
    copy = np.empty(key.images, dtype=np.int64)
    copy[key.order()] = predictions
    copy_accuracy = float(np.mean(copy == labels))
    gap = graded_accuracy - copy_accuracy
    passes_on_graded_only = passing_accuracy is not None and copy_accuracy < passing_accuracy <= graded_accuracy
    if passes_on_graded_only:
        base["threshold"] = PASSING_GAP_THRESHOLD
    flagged = gap > base["threshold"]
    rule = ", for an attempt that passes on the graded images only" if passes_on_graded_only else ""
    reason = (f"accuracy {graded_accuracy:.2%} on the graded images but {copy_accuracy:.2%} on a re-ordered, "
              f"noisy copy of them (gap {gap * 100:.2f} points, threshold {base['threshold'] * 100:.2f}{rule})"
              ) if flagged else ""
    return IntegrityCheck(flagged=flagged, reason=reason, copy_accuracy=copy_accuracy, gap=gap, copy_status="ok",
                          agreement=float(np.mean(copy == graded)), **base)


def _unpredicted(status: CopyStatus, detail: str, base: dict[str, Any]) -> IntegrityCheck:
    """The model predicted the graded images, then not their copy: suspicious whatever the reason."""
    reason = (f"accuracy {base['graded_accuracy']:.2%} on the graded images, then no prediction of their copy "
              f"({status}: {detail})")
    return IntegrityCheck(flagged=True, reason=reason[: 2 * MAX_DETAIL_CHARS], copy_accuracy=None, gap=None,
                          copy_status=status, copy_detail=detail, **base)


def _detail(copy_result: Mapping[str, Any]) -> str:
    error = copy_result.get("error")
    if isinstance(error, Mapping):
        text = f"{error.get('type', '')}: {error.get('message', '')}"
    else:
        text = str(copy_result.get("message", ""))
    return text.strip()[:MAX_DETAIL_CHARS]
