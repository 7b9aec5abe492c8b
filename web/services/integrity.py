"""The integrity check's evidence as staff read it on a submission's page (grader.integrity), in their language.

Staff only: the views build this for TAs and instructors and never for the student (their page, the live
status and Gradescope's output carry none of it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grader.report import IntegrityCheck, Report
from web.i18n import fmt_number, fmt_percent, gettext, lazy_gettext

# How the model's prediction of the copy ended (grader.report.COPY_STATUSES), as staff read it.
COPY_STATUS_LABELS: dict[str, Any] = {
    "ok": lazy_gettext("predicted"),
    "error": lazy_gettext("raised an exception"),
    "failed_check": lazy_gettext("answered in the wrong shape"),
    "timeout": lazy_gettext("ran out of time"),
    "out_of_memory": lazy_gettext("ran out of memory"),
    "crashed": lazy_gettext("the process ended"),
    "bad_output": lazy_gettext("printed too much"),
    "missing": lazy_gettext("no answer"),
}


@dataclass(frozen=True)
class IntegrityRow:
    """One attempt's check, formatted."""

    question: str
    attempt: int
    seed: int
    flagged: bool
    graded: str  # accuracy on the graded images
    copy: str  # accuracy on the copy, or a dash
    gap: str  # in points, or a dash
    threshold: str  # in points
    agreement: str  # share of copy images answered as their original was, or a dash
    copy_status: str
    copy_detail: str  # the attempt's own words (an exception message): not ours to translate
    copy_params: str
    copy_cpu_s: str


@dataclass(frozen=True)
class IntegrityView:
    """What the staff section shows: whether the submission is flagged, the stored reason, every check."""

    flagged: bool
    reason: str | None  # as the gradebook recorded it (English, the record)
    rows: tuple[IntegrityRow, ...]


def integrity_view(report: Report | None, flag_reason: str | None) -> IntegrityView | None:
    """The staff section of a submission's page, or None when there is nothing to show (no check, no flag)."""
    rows = tuple(_row(q.question, number, a.seed, a.integrity)
                 for q in (report.questions if report is not None else ())
                 for number, a in enumerate(q.attempts, start=1) if a.integrity is not None)
    if not rows and flag_reason is None:
        return None
    return IntegrityView(flagged=flag_reason is not None or any(r.flagged for r in rows), reason=flag_reason,
                         rows=rows)


def _row(question: str, number: int, seed: int, check: IntegrityCheck) -> IntegrityRow:
    dash = "–"
    return IntegrityRow(
        question=question, attempt=number, seed=seed, flagged=check.flagged,
        graded=fmt_percent(check.graded_accuracy),
        copy=fmt_percent(check.copy_accuracy) if check.copy_accuracy is not None else dash,
        gap=_points(check.gap) if check.gap is not None else dash,
        threshold=_points(check.threshold),
        agreement=fmt_percent(check.agreement, 1) if check.agreement is not None else dash,
        copy_status=str(COPY_STATUS_LABELS.get(check.copy_status, check.copy_status)),
        copy_detail=check.copy_detail,
        copy_params=_params(check.copy),
        copy_cpu_s=f"{fmt_number(check.copy_cpu_s, 2)} s" if check.copy_cpu_s is not None else dash,
    )


def _points(fraction: float) -> str:
    return gettext("%(points)s points", points=fmt_number(fraction * 100, 2))


def _params(copy: Mapping[str, Any]) -> str:
    try:
        return gettext(
            "%(images)s images re-ordered, moved up to %(shift)s px, ink scaled by %(gain)s to 1 with %(noise)s "
            "noise; secret %(secret)s",
            images=fmt_number(copy["images"]), shift=fmt_number(copy["max_shift_px"], 1),
            gain=fmt_number(copy["min_gain"], 1), noise=fmt_percent(copy["ink_noise"], 0),
            secret=str(copy["secret"])[:8] + "…")
    except (KeyError, TypeError, ValueError):
        return "–"
