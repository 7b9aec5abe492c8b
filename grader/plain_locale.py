"""The grader's sentences in a reader's language with the standard library only, for the starter kit's checker.

The portal translates with Babel (web/i18n.py); the kit runs on a student's machine that has only numpy, so
its checker reads the same compiled gettext catalog with `gettext` and writes numbers in the reader's notation
itself: Spanish "0,0049", "97,46 %", "60.000"; English "0.0049", "97.46%", "60,000". Templates are the
grader's message ids (grader/messages.py): `{name}` placeholders with at most a simple format spec.
"""

from __future__ import annotations

import gettext
import math
import string
from pathlib import Path
from typing import Any

DOMAIN = "messages"
LANGUAGES = ("es", "en")
# Decimal separator, grouping separator, what goes between a percentage and "%", and the smallest whole
# number that is grouped: as the portal's Babel writes them (tests/test_kit.py compares the two).
_NOTATION = {
    "en": (".", ",", "", 1000),
    "es": (",", ".", "\u00a0", 1000),
}


def catalog(directory: Path, language: str) -> gettext.NullTranslations:
    """The compiled catalog of `language` under `directory` (<lang>/LC_MESSAGES/messages.mo); the identity for
    English or when there is none."""
    return gettext.translation(DOMAIN, localedir=str(directory), languages=[language], fallback=True)


class PlainFormatter(string.Formatter):
    """str.format whose numbers follow `language`'s notation ("{r:.2%}" -> "97,46 %" in Spanish)."""

    def __init__(self, language: str) -> None:
        self.decimal, self.group, self.percent_gap, self.group_from = _NOTATION.get(language, _NOTATION["en"])

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return str(super().format_field(value, format_spec))
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        spec = format_spec.strip()
        if spec.endswith("%"):
            return self._number(format(value * 100, spec[:-1] + "f" if spec[:-1] else ".0f")) + \
                self.percent_gap + "%"
        if isinstance(value, int) and spec in ("", "d"):
            return self._number(str(value))
        text = str(super().format_field(value, spec or "g"))
        return text if ("e" in text or "n" in text) else self._number(text)

    def _number(self, text: str) -> str:
        sign, body = ("-", text[1:]) if text.startswith("-") else ("", text)
        whole, _, fraction = body.partition(".")
        if whole.isdigit() and int(whole) >= self.group_from:
            groups: list[str] = []
            while len(whole) > 3:
                whole, groups = whole[:-3], [whole[-3:], *groups]
            whole = self.group.join([whole, *groups])
        return sign + whole + (self.decimal + fraction if fraction else "")


def translate(translations: gettext.NullTranslations, language: str, template: str, **values: Any) -> str:
    """`template` looked up in `translations` and filled with `values` in `language`'s notation; the English
    template when the translation's placeholders do not fit the values."""
    formatter = PlainFormatter(language)
    try:
        return formatter.vformat(translations.gettext(template), (), values)
    except (KeyError, IndexError, ValueError):
        return formatter.vformat(template, (), values)
