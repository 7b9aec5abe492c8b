"""The portal's languages: which one a request gets, its catalogs, and numbers, dates and messages in it.

A request's language is the signed-in user's saved choice, else the visitor's choice kept in the session,
else the best match of the browser's Accept-Language, else the course default an instructor sets
(gradebook.course), else English. Catalogs are gettext's: web/translations/<locale>/LC_MESSAGES/messages.po
in the repository, compiled to .mo by scripts/setup.d/25-catalogs.sh and by the app image's build; the
portal refuses to start without compiled catalogs instead of quietly showing English.

`translate(locale, template, **values)` renders one message outside a request (the starter kit, the CLI).
"""

from __future__ import annotations

import copy
import math
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import flask_babel  # type: ignore[import-untyped]  # ships no type information
from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import format_decimal, parse_pattern
from babel.support import NullTranslations, Translations
from flask import Flask, g, request, session

from grader.messages import Message

SUPPORTED_LOCALES: tuple[str, ...] = ("en", "es")
DEFAULT_LOCALE = "en"
# Each language named in itself, so that a reader finds their own in a list of foreign words.
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "es": "Español"}
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
SESSION_LOCALE = "locale"
COMPILE_COMMAND = "bash scripts/setup.d/25-catalogs.sh"


class CatalogError(RuntimeError):
    """A language's compiled catalog is missing or older than its source; the message names the fix."""


def check_catalogs(directory: Path = TRANSLATIONS_DIR) -> None:
    """Every supported language but English (the source language) has a compiled catalog no older than its .po.

    Raises CatalogError naming the files and the command that compiles them.
    """
    problems: list[str] = []
    for locale in SUPPORTED_LOCALES:
        if locale == DEFAULT_LOCALE:
            continue
        po = directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        mo = po.with_suffix(".mo")
        if not po.is_file():
            problems.append(f"{po} is missing")
        elif not mo.is_file():
            problems.append(f"{mo} is not compiled")
        elif mo.stat().st_mtime < po.stat().st_mtime:
            problems.append(f"{mo} is older than {po.name}")
    if problems:
        raise CatalogError("; ".join(problems) + f". Compile the catalogs: {COMPILE_COMMAND}")


def init_app(app: Flask) -> None:
    """Flask-Babel on `app` with our locale selector, UTC dates, and the template helpers below."""
    check_catalogs()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    flask_babel.Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS_DIR),
          default_domain=DOMAIN)
    app.jinja_env.globals.update(
        fmt_points=fmt_points, fmt_number=fmt_number, fmt_decimal=fmt_decimal, fmt_percent=fmt_percent,
        fmt_datetime=fmt_datetime, fmt_date=fmt_date, fmt_time=fmt_time, fmt_wait=fmt_wait, fmt_duration=fmt_duration,
        fmt_metric=fmt_metric,
        render=render,
        current_locale=current_locale, language_names=LANGUAGE_NAMES, supported_locales=SUPPORTED_LOCALES)


def select_locale() -> str:
    """The request's language (see the module's docstring for the order)."""
    user = g.get("user")
    saved = getattr(user, "locale", None)
    if saved in SUPPORTED_LOCALES:
        return str(saved)
    chosen = session.get(SESSION_LOCALE)
    if chosen in SUPPORTED_LOCALES:
        return str(chosen)
    browser = request.accept_languages.best_match(SUPPORTED_LOCALES)
    if browser:
        return browser
    return course_default_locale()


def course_default_locale() -> str:
    """The course default from the gradebook, or English when it names a language the portal lacks."""
    from gradebook.course import default_locale
    from web.db import read_session

    value = default_locale(read_session())
    return value if value in SUPPORTED_LOCALES else DEFAULT_LOCALE


def current_locale() -> str:
    """The request's language code, e.g. "es"."""
    return str(flask_babel.get_locale() or DEFAULT_LOCALE)


# Flask-Babel's functions, typed: pages and services import these.

def gettext(msgid: str, **values: Any) -> str:
    """`msgid` in the request's language, with %(name)s placeholders filled from `values`."""
    return str(flask_babel.gettext(msgid, **values))


def ngettext(singular: str, plural: str, num: int, **values: Any) -> str:
    """The singular or plural form for `num` in the request's language (%(num)s is `num`)."""
    return str(flask_babel.ngettext(singular, plural, num, **values))


def lazy_gettext(msgid: str, **values: Any) -> Any:
    """A string translated when it is used (forms and tables built at import time)."""
    return flask_babel.lazy_gettext(msgid, **values)


def refresh() -> None:
    """Forget the request's chosen language (after the user switched it)."""
    flask_babel.refresh()


# Numbers ---------------------------------------------------------------------------------------------

def _locale() -> Locale:
    locale: Locale | None = flask_babel.get_locale()
    return locale or Locale.parse(DEFAULT_LOCALE)


def fmt_number(value: float | None, digits: int = 0, *, locale: Locale | str | None = None) -> str:
    """`value` with exactly `digits` decimals in the locale's notation: 1234.5 -> "1,234.50" / "1234,50"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–" if value is None else str(value)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return str(format_decimal(value, pattern, locale=locale or _locale()))


def fmt_decimal(value: float | None, *, locale: Locale | str | None = None) -> str:
    """`value` with the decimals it needs, up to 6: 0.02 -> "0.02" / "0,02"."""
    if value is None or not math.isfinite(value):
        return "–" if value is None else str(value)
    return str(format_decimal(value, "#,##0.######", locale=locale or _locale()))


def fmt_points(value: float | None, *, locale: Locale | str | None = None) -> str:
    """Points as few decimals as they need: 12 -> "12", 9.6 -> "9.6" / "9,6" (late penalties give fractions)."""
    if value is None:
        return "–"
    return str(format_decimal(round(value, 2), "#,##0.##", locale=locale or _locale()))


def fmt_percent(ratio: float | None, digits: int = 2, *, locale: Locale | str | None = None) -> str:
    """A ratio as a percentage in the locale's own pattern: 0.9746 -> "97.46%" / "97,46 %"."""
    if ratio is None or not math.isfinite(ratio):
        return "–"
    loc = Locale.parse(locale) if locale is not None else _locale()
    pattern = copy.copy(parse_pattern(loc.percent_formats[None]))
    pattern.frac_prec = (digits, digits)
    return str(pattern.apply(ratio, loc))


def fmt_metric(name: str, value: float | None, *, locale: Locale | str | None = None) -> str:
    """A question's metric as the result pages show it: accuracy as a percentage, a loss with 6 decimals."""
    if value is None:
        return "–"
    if name == "accuracy":
        return fmt_percent(value, 2, locale=locale)
    if not math.isfinite(value):
        return str(value)
    return fmt_number(value, 6, locale=locale)


# Dates: always UTC, said so on the page --------------------------------------------------------------

def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def fmt_datetime(moment: datetime | None, *, seconds: bool = False) -> str:
    """A date and time in the locale's order and month names, in UTC: "Nov 30, 2026, 14:05 UTC"."""
    if moment is None:
        return "–"
    locale, utc = _locale(), _utc(moment)
    date = str(format_skeleton("yMMMd", utc, tzinfo=UTC, locale=locale))
    time = str(format_skeleton("Hms" if seconds else "Hm", utc, tzinfo=UTC, locale=locale))
    # The locale's own way of joining a date and a time ("{1}, {0}" in both languages today).
    joined = str(locale.datetime_formats["medium"]).replace("{1}", date).replace("{0}", time)
    return joined + " UTC"


def fmt_date(moment: datetime | None) -> str:
    """A date in the locale's order and month names: "Nov 30, 2026" / "30 nov 2026"."""
    if moment is None:
        return "–"
    return str(format_skeleton("yMMMd", _utc(moment), tzinfo=UTC, locale=_locale()))


def fmt_time(moment: datetime | None) -> str:
    """A time of day in UTC: "14:05:09 UTC"."""
    if moment is None:
        return "–"
    return str(format_skeleton("Hms", _utc(moment), tzinfo=UTC, locale=_locale())) + " UTC"


def fmt_wait(seconds: float | None) -> str:
    """A duration as people say it: "about 40 s", "about 4 min", "about 2 h"; "–" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 90:
        return gettext("about %(n)s s", n=fmt_number(max(5.0, math.ceil(seconds / 5) * 5)))
    if seconds < 90 * 60:
        return gettext("about %(n)s min", n=fmt_number(math.ceil(seconds / 60)))
    return gettext("about %(n)s h", n=fmt_number(seconds / 3600, 1 if seconds < 10 * 3600 else 0))


def fmt_duration(seconds: float | None) -> str:
    """A measured duration, rounded for people: "37 s", "12 min", "81 h"; "–" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 90:
        return gettext("%(n)s s", n=fmt_number(seconds))
    if seconds < 90 * 60:
        return gettext("%(n)s min", n=fmt_number(seconds / 60))
    return gettext("%(n)s h", n=fmt_number(seconds / 3600))


# Messages with {placeholders} (grader.messages) --------------------------------------------------------

class LocaleFormatter(string.Formatter):
    """str.format whose numbers follow a locale: "{x:.2f}" -> "0,25" in Spanish, "{r:.1%}" -> "97,5 %"."""

    def __init__(self, locale: Locale | str) -> None:
        self.locale = Locale.parse(locale)

    def format_field(self, value: Any, format_spec: str) -> str:
        """Numbers in the locale's notation for the specs our messages use (".2f", ".1%", "d", "g"); anything else as
        str.format would."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(super().format_field(value, format_spec))
        spec = format_spec.strip()
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if spec.endswith("%"):
            digits = int(spec[1:-1]) if spec.startswith(".") and spec[1:-1].isdigit() else 0
            return fmt_percent(float(value), digits, locale=self.locale)
        if spec.endswith("f") and spec.startswith(".") and spec[1:-1].isdigit():
            return fmt_number(value, int(spec[1:-1]), locale=self.locale)
        if spec in ("", "d", "g") or (spec.endswith("g") and spec.startswith(".")):
            if isinstance(value, int):
                return str(format_decimal(value, "#,##0", locale=self.locale))
            text = str(super().format_field(value, spec or "g"))
            if "e" in text or "inf" in text or "nan" in text:
                return text
            return str(format_decimal(float(text), "#,##0.##########", locale=self.locale))
        return str(super().format_field(value, format_spec))


def format_message(template: str, params: Mapping[str, Any], locale: Locale | str) -> str:
    """`template` (already translated) filled with `params`, numbers in `locale`'s notation."""
    return LocaleFormatter(locale).vformat(template, (), dict(params))


def render(item: Message | str | None, fallback: str = "") -> str:
    """A message in the request's language; a plain string (older stored text, student text) as it is."""
    if item is None:
        return fallback
    if not isinstance(item, Message):
        return str(item)
    translated = str(flask_babel.get_translations().ugettext(item.template))
    try:
        return format_message(translated, item.params, _locale())
    except (KeyError, IndexError, ValueError):
        # A catalog whose placeholders disagree with the template must not break the page: English then.
        return item.text


@lru_cache(maxsize=len(SUPPORTED_LOCALES) * 2)
def catalog(locale: str, directory: Path = TRANSLATIONS_DIR) -> NullTranslations:
    """The compiled catalog of `locale` (English: the identity)."""
    return Translations.load(str(directory), [locale], domain=DOMAIN)


def translate(locale: str, template: str, **values: Any) -> str:
    """`template` (a msgid with {placeholders}) in `locale`, filled with `values` in its notation.

    For code outside a request, such as the starter-kit builder: translate("es", "Loss {loss:.4f}.", loss=0.01).
    An unsupported locale falls back to English.
    """
    if locale not in SUPPORTED_LOCALES:
        locale = DEFAULT_LOCALE
    translated = str(catalog(locale).ugettext(template))
    return format_message(translated, values, locale)

