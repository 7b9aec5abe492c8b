"""Text from a submission, made safe to print: control characters shown as escapes, never obeyed.

A submission controls its output, its exception messages and so the tracebacks and details we print. A
terminal obeys escape sequences, carriage returns and backspaces in them, so a file could erase or rewrite
the lines an instructor reads (its real score among them). Everything student-controlled goes through
`escape_controls` before it reaches a terminal.
"""

from __future__ import annotations

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
