"""Reports as text for a terminal: the per-question table `nngrade grade` and the kit's check.py print.

Text from a submission is made safe to print: control characters shown as escapes, never obeyed.

A submission controls its output, its exception messages and so the tracebacks and details we print. A
terminal obeys escape sequences, carriage returns and backspaces in them, so a file could erase or rewrite
the lines an instructor reads (its real score among them). Everything student-controlled goes through
`escape_controls` before it reaches a terminal.
"""

from __future__ import annotations

from typing import Callable

from grader.messages import Message
from grader.report import QuestionResult, Report, format_metric

# C0 controls (tab and newline are layout, kept where they separate lines), DEL, the C1 controls (U+009B is
# a one-character CSI on some terminals) and the bidirectional overrides that reorder what is displayed.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPED = {code: (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}") for code in _CONTROLS}
_KEEP_LINES = {**_ESCAPED, ord("\n"): "\n", ord("\t"): "\t"}


def escape_controls(text: str, *, keep_newlines: bool = True) -> str:
    """`text` with every control character written as an escape (ESC as ``\\x1b``).

    With keep_newlines, newlines (and CRLF line ends) stay line breaks and tabs stay tabs; without, the
    result is one line.
    """
    if keep_newlines:
        return text.replace("\r\n", "\n").translate(_KEEP_LINES)
    return text.translate(_ESCAPED)


def _threshold(metric_name: str, threshold: float) -> str:
    return f"{threshold:.0%}" if metric_name == "accuracy" else f"{threshold:g}"


def _english(message: Message | None, english: str) -> str:
    return english


def render_table(report: Report, say: Callable[[Message | None, str], str] = _english, *, staff: bool = False) -> str:
    """The report as a table, one row per question, then what went wrong with each question that lost points.

    `say(message, english)` gives the grader's sentences (details, hints, warnings) in the reader's language
    from their templates (grader.messages); by default the English record. For `staff` (nngrade grade), also
    every attempt the integrity check flagged for review (in English: for staff), never for students.
    """
    header = ("Question", "Points", "Outcome", "Metric", "Threshold", "Attempts (seed: outcome)", "Time")
    rows = [header]
    for q in report.questions:
        rows.append((
            q.question,
            f"{q.points}/{q.max_points}",
            q.outcome,
            f"{_metric_label(q)} {format_metric(q.metric_name, q.metric_value)}",
            f"{q.comparison} {_threshold(q.metric_name, q.threshold)}",
            ", ".join(f"{a.seed}: {a.outcome}" for a in q.attempts),
            f"{sum(a.wall_s for a in q.attempts):.1f} s",
        ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in rows]
    lines.append(f"Total  {report.total_points}/{report.max_points}   ({report.wall_s:.1f} s, "
                 f"{report.environment.runner} runner, numpy {report.environment.numpy_version})")
    # Details, tracebacks, hints and output carry the submission's own text: every control character in
    # them is escaped, and multi-line blocks are indented under our own lines.
    for q in report.questions if staff else ():
        for number, flagged in enumerate(q.attempts, start=1):
            if flagged.integrity is not None and flagged.integrity.flagged:
                lines.append("")
                lines.append(f"{q.question}: flagged for review: attempt {number} (seed {flagged.seed}): "
                             f"{_one_line(flagged.integrity.reason)}")
    for q in report.questions:
        attempt = q.counted
        if q.points == q.max_points and not q.hints and not attempt.warnings:
            continue
        lines.append("")
        lines.append(f"{q.question}: {_one_line(say(attempt.detail_message, attempt.detail))}")
        if attempt.error is not None:
            lines.extend(f"    {line}" for line in escape_controls(attempt.error.traceback.rstrip()).splitlines())
        hints = [say(m, m.text) for m in attempt.hint_messages] if attempt.hint_messages else list(q.hints)
        warnings = ([say(m, m.text) for m in attempt.warning_messages] if attempt.warning_messages
                    else list(attempt.warnings))
        lines.extend(f"  hint: {_one_line(hint)}" for hint in hints)
        lines.extend(f"  warning: {_one_line(warning)}" for warning in warnings)
        excerpt = escape_controls(attempt.log_excerpt).strip().splitlines()
        if excerpt and q.points < q.max_points:
            lines.append("  output (last lines):")
            lines.extend(f"    {line[:200]}" for line in excerpt[-10:])
    return "\n".join(lines)


def _metric_label(q: QuestionResult) -> str:
    return f"validation {q.metric_name}" if q.scored_on == "validation" else q.metric_name


def _one_line(text: str) -> str:
    return escape_controls(text, keep_newlines=False)
