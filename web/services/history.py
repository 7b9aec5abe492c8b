"""A student's history as small inline SVG charts: per question, the metric of each graded submission over
time, coloured by outcome, with the goal as a dashed line, so a student sees whether a change helped.

Inline SVG with presentation attributes only (no style attributes, no script): the pages' CSP allows it, and
it needs no request for a picture. Labels are in the request's language; values are escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from web.i18n import fmt_datetime, fmt_decimal, fmt_metric, fmt_percent, gettext, ngettext
from web.services.pages import metric_label, outcome_label

WIDTH, HEIGHT = 360, 190
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 26, 34
GOOD, MISS, FAULT, INK, MUTED, GRID = "#15803d", "#d97706", "#b91c1c", "#1f2937", "#6b7280", "#e5e7eb"
# A loss axis spans decades: 1e-5 .. 1e3 is the widest it draws; values beyond sit on its edge.
LOSS_FLOOR, LOSS_CEILING = 1e-5, 1e3


@dataclass(frozen=True)
class HistoryPoint:
    """One graded submission's result for one question."""

    number: int  # the submission's number for its student (1 = first upload)
    uploaded_at: datetime
    outcome: str
    points: int
    max_points: int
    metric_value: float | None


@dataclass(frozen=True)
class QuestionHistory:
    """One question's results over a student's submissions, oldest first."""

    question: str
    metric_name: str  # "loss" or "accuracy"
    threshold: float
    comparison: str  # "<=" or ">="
    points: tuple[HistoryPoint, ...]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _y_scale(h: QuestionHistory) -> tuple[float, float, bool]:
    """(low, high, logarithmic) for the question's axis, always including the goal."""
    values = [p.metric_value for p in h.points if p.metric_value is not None and _finite(p.metric_value)]
    if h.metric_name == "loss":
        positives = [min(max(v, LOSS_FLOOR), LOSS_CEILING) for v in values if v > 0] + [h.threshold]
        low = 10 ** math.floor(math.log10(min(positives)))
        high = 10 ** math.ceil(math.log10(max(positives)))
        if high <= low:
            high = low * 10
        return low, high, True
    low = min([*values, h.threshold])
    return max(0.0, math.floor((low - 0.02) * 20) / 20), 1.0, False


def _colour(outcome: str) -> str:
    if outcome == "passed":
        return GOOD
    if outcome in ("below_threshold", "diverged"):
        return MISS
    return FAULT


def question_chart(h: QuestionHistory) -> str:
    """One question's chart as an <svg> element (a string of escaped markup)."""
    low, high, log = _y_scale(h)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = len(h.points)

    def x_of(index: int) -> float:
        return LEFT + (plot_w / 2 if count == 1 else plot_w * index / (count - 1))

    def y_of(value: float) -> float:
        if log:
            value = min(max(value, low), high)
            share = (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))
        else:
            share = (min(max(value, low), high) - low) / (high - low)
        return TOP + plot_h * (1 - share)

    label = metric_label(h.metric_name)
    title = gettext("%(question)s: %(metric)s per submission", question=h.question, metric=label)
    latest = h.points[-1]
    summary = ngettext("%(num)s graded submission; the latest, #%(number)s, has %(metric)s %(value)s (%(outcome)s).",
                       "%(num)s graded submissions; the latest, #%(number)s, has %(metric)s %(value)s (%(outcome)s).",
                       count, number=latest.number, metric=label.lower(),
                       value=fmt_metric(h.metric_name, latest.metric_value), outcome=outcome_label(latest.outcome))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="history-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label={quoteattr(title + ". " + summary)} '
             f'font-family="system-ui, sans-serif" data-question={quoteattr(h.question)}>',
             f"<title>{escape(title)}</title><desc>{escape(summary)}</desc>",
             f'<text x="{LEFT}" y="16" font-size="12" font-weight="600" fill="{INK}">{escape(title)}</text>']
    ticks = _ticks(low, high, log)
    for tick in ticks:
        y = y_of(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="{MUTED}">'
                     f"{escape(_loss_tick(tick) if log else fmt_percent(tick, 0))}</text>")
    goal_y = y_of(h.threshold)
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{goal_y:.1f}" y2="{goal_y:.1f}" stroke="{INK}" '
                 f'stroke-dasharray="5 4" stroke-width="1.2"/>')
    goal_word = gettext("goal")
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{goal_y - 4:.1f}" font-size="10" text-anchor="end" fill="{INK}">'
                 f"{escape(goal_word)}</text>")
    line = [(x_of(i), y_of(p.metric_value)) for i, p in enumerate(h.points)
            if p.metric_value is not None and _finite(p.metric_value) and (not log or p.metric_value > 0)]
    if len(line) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{MUTED}" stroke-width="1.2"/>')
    for i, p in enumerate(h.points):
        x = x_of(i)
        tip = gettext("#%(number)s, %(when)s: %(metric)s %(value)s, %(outcome)s, %(points)s/%(max)s points",
                      number=p.number, when=fmt_datetime(p.uploaded_at), metric=label.lower(),
                      value=fmt_metric(h.metric_name, p.metric_value), outcome=outcome_label(p.outcome),
                      points=p.points, max=p.max_points)
        colour = _colour(p.outcome)
        plotted = p.metric_value is not None and _finite(p.metric_value) and (not log or p.metric_value > 0)
        if plotted:
            assert p.metric_value is not None
            y = y_of(p.metric_value)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" stroke="#fff" stroke-width="1.5" '
                         f'data-outcome={quoteattr(p.outcome)}><title>{escape(tip)}</title></circle>')
        else:
            # No metric (an error, a timeout): a cross on the axis, so the attempt is not silently missing.
            y = TOP + plot_h
            parts.append(f'<g data-outcome={quoteattr(p.outcome)}><title>{escape(tip)}</title>'
                         f'<path d="M{x - 5:.1f},{y - 5:.1f} L{x + 5:.1f},{y + 5:.1f} M{x - 5:.1f},{y + 5:.1f} '
                         f'L{x + 5:.1f},{y - 5:.1f}" stroke="{colour}" stroke-width="2.2"/></g>')
        if count <= 12 or i in (0, count - 1) or i % math.ceil(count / 10) == 0:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="10" text-anchor="middle" '
                         f'fill="{MUTED}">#{p.number}</text>')
    axis_word = gettext("submission")
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" font-size="10" text-anchor="middle" '
                 f'fill="{MUTED}">{escape(axis_word)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _ticks(low: float, high: float, log: bool) -> list[float]:
    if log:
        first, last = round(math.log10(low)), round(math.log10(high))
        decades = max(1, math.ceil((last - first) / 4))
        return [10.0 ** e for e in range(first, last + 1, decades)]
    step = 0.05 if high - low <= 0.2 else 0.1 if high - low <= 0.5 else 0.25
    ticks: list[float] = []
    value = float(low)
    while value <= high + 1e-9:
        ticks.append(round(value, 4))
        value += step
    return ticks


def _loss_tick(value: float) -> str:
    exponent = round(math.log10(value))
    return f"1e{exponent}" if abs(exponent) > 3 else fmt_decimal(value)


def chart_svg(histories: Sequence[QuestionHistory]) -> str:
    """Every question with at least one graded submission, side by side; "" when there is none."""
    shown = [h for h in histories if h.points]
    if not shown:
        return ""
    return '<div class="history">' + "".join(question_chart(h) for h in shown) + "</div>"
