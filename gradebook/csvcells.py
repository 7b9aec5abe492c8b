"""CSV cells that a spreadsheet shows as text: every CSV nngrade writes goes through `writer` or `safe_cell`.

A cell that begins with =, +, -, @, a tab or a carriage return is read as a formula by Excel, LibreOffice
and Google Sheets (CSV injection); a leading apostrophe makes it text and is not shown. Student names and
usernames are the student's to choose, so every cell is neutralised, not only the ones we think are text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """`value` as a CSV cell that no spreadsheet evaluates: a leading apostrophe before a formula start."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeWriter:
    """csv.writer whose every cell passes through `safe_cell`. Lines end in CRLF (RFC 4180), so a cell holding
    a bare CR or LF is quoted and stays one cell."""

    def __init__(self, out: TextIO, **kwargs: Any) -> None:
        kwargs.setdefault("lineterminator", "\r\n")
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row of cells."""
        self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write many rows."""
        for row in rows:
            self.writerow(row)


def write_dicts(out: TextIO, columns: Sequence[str], rows: Iterable[Mapping[str, object]],
                delimiter: str = ",") -> None:
    """A header line of `columns`, then one line per row (missing keys are empty cells), all neutralised."""
    writer = SafeWriter(out, delimiter=delimiter)
    writer.writerow(columns)
    writer.writerows([row.get(c, "") for c in columns] for row in rows)
