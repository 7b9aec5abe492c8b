"""Reports as text for a terminal: the per-question table `nngrade grade` and the kit's check.py print.

Text from a submission is made safe to print: control characters shown as escapes, never obeyed.

A submission controls its output, its exception messages and so the tracebacks and details we print. A
terminal obeys escape sequences, carriage returns and backspaces in them, so a file could erase or rewrite
the lines an instructor reads (its real score among them). Everything student-controlled goes through
`escape_controls` before it reaches a terminal.
"""

from __future__ import annotations

from typing import Callable

from grader.messages import N_, Message
from grader.report import QuestionResult, Report

# A translator: a message id (with {placeholders}) and its values -> the reader's sentence, numbers in their notation.
Words = Callable[..., str]

# The table's words, translated where a reader's language is given (the kit's checker); the outcomes as the
# portal names them for students (web/services/pages.py uses the same English, so one translation serves both).
OUTCOME_WORDS = {
    "passed": N_("passed"),
    "below_threshold": N_("below the goal"),
    "diverged": N_("diverged"),
    "failed_check": N_("failed a check"),
    "error": N_("error in your code"),
    "timeout": N_("time limit reached"),
    "out_of_memory": N_("out of memory"),
    "crashed": N_("crashed"),
    "bad_output": N_("bad output"),
    "infrastructure_error": N_("problem on our side"),
}
METRIC_WORDS = {"loss": N_("loss"), "accuracy": N_("accuracy")}
TOTAL, HINT, WARNING, OUTPUT = N_("Total"), N_("hint"), N_("warning"), N_("output (last lines)")
HEADER = (N_("Question"), N_("Points"), N_("Outcome"), N_("Metric"), N_("Threshold"), N_("Attempts (seed: outcome)"),
          N_("Time"))

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


def _threshold(metric_name: str, threshold: float, word: Words) -> str:
    return word("{value:.0%}", value=threshold) if metric_name == "accuracy" else word("{value:g}", value=threshold)


def _english(message: Message | None, english: str) -> str:
    return english


def render_table(
    report: Report, say: Callable[[Message | None, str], str] = _english, words: Words | None = None,
    *, staff: bool = False,
) -> str:
    """The report as a table, one row per question, then what went wrong with each question that lost points.

    `say(message, english)` gives the grader's sentences (details, hints, warnings) in the reader's language
    from their templates (grader.messages); by default the English record. `words` translates the table's
    own words (headers, outcome names, labels); without it they are English and outcomes are their codes.
    For `staff` (nngrade grade), also every attempt the integrity check flagged for review (in English: for
    staff), never for students.
    """
    word: Words = words or _format

    def outcome(code: str) -> str:
        return word(OUTCOME_WORDS.get(code, code)) if words is not None else code

    rows = [tuple(word(h) for h in HEADER)]
    for q in report.questions:
        rows.append((
            q.question,
            f"{q.points}/{q.max_points}",
            outcome(q.outcome),
            f"{_metric_label(q, word)} {_metric_value(q.metric_name, q.metric_value, word)}",
            f"{q.comparison} {_threshold(q.metric_name, q.threshold, word)}",
            ", ".join(f"{a.seed}: {outcome(a.outcome)}" for a in q.attempts),
            word("{seconds:.1f} s", seconds=sum(a.wall_s for a in q.attempts)),
        ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in rows]
    lines.append(f"{word(TOTAL)}  {report.total_points}/{report.max_points}   ("
                 + word("{seconds:.1f} s", seconds=report.wall_s)
                 + f", {report.environment.runner}, numpy {report.environment.numpy_version})")
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
        lines.extend(f"  {word(HINT)}: {_one_line(hint)}" for hint in hints)
        lines.extend(f"  {word(WARNING)}: {_one_line(warning)}" for warning in warnings)
        excerpt = escape_controls(attempt.log_excerpt).strip().splitlines()
        if excerpt and q.points < q.max_points:
            lines.append(f"  {word(OUTPUT)}:")
            lines.extend(f"    {line[:200]}" for line in excerpt[-10:])
    return "\n".join(lines)


def _format(template: str, **values: object) -> str:
    return template.format(**values) if values else template


def _metric_label(q: QuestionResult, word: Words) -> str:
    name = word(METRIC_WORDS.get(q.metric_name, q.metric_name))
    return word(N_("validation {metric}"), metric=name) if q.scored_on == "validation" else name


def _metric_value(name: str, value: float | None, word: Words) -> str:
    """As report.format_metric writes it (accuracy 97.56%, loss 0.009373), in the reader's notation."""
    if value is None:
        return "-"
    return word("{value:.2%}", value=value) if name == "accuracy" else word("{value:.6f}", value=value)


def _one_line(text: str) -> str:
    return escape_controls(text, keep_newlines=False)
