"""What a reader of a page sees, and the English left in a page that should be Spanish. Holds no tests.

A page's visible text leaves out what is not ours to translate: elements marked translate="no" (names,
titles, reasons typed by staff, file names), code, logs, scripts and styles.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.mofile import read_mo

REPO = Path(__file__).resolve().parent.parent
CATALOG_MO = REPO / "web" / "translations" / "es" / "LC_MESSAGES" / "messages.mo"
_SKIPPED_TAGS = {"script", "style", "code", "pre", "title", "svg"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Words that are English and never Spanish ("has" and "no" are Spanish too, so they are not here): one of
# them in a Spanish page's own text is an untranslated string.
ENGLISH_WORDS = frozenset({
    "the", "your", "you", "is", "are", "and", "with", "this", "that", "for", "from", "was", "have", "will",
    "when", "which", "of", "to", "in", "on", "at", "it", "be", "by", "or", "not", "an", "upload", "uploads",
    "submission", "submissions", "grade", "graded", "grading", "queue", "queued", "points", "sign", "password",
    "student", "students", "score", "status", "search", "show", "page", "next", "previous", "waiting", "running",
    "loss", "accuracy", "goal", "passed", "hints", "attempts", "seed", "time", "memory", "starter",
    "download", "dashboard", "export", "about", "minutes", "seconds", "none", "yes", "meets", "below", "above",
})
_WORD = re.compile(r"[A-Za-zÀ-ÿ]+")


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.attributes: list[str] = []  # alt, title, placeholder, aria-label: read aloud or shown too
        self._skip_depth = 0
        self._stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        skip = tag in _SKIPPED_TAGS or values.get("translate") == "no"
        if self._skip_depth == 0 and not skip:
            for name in ("alt", "title", "placeholder", "aria-label"):
                if values.get(name):
                    self.attributes.append(str(values[name]))
            if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
                self.attributes.append(str(values["value"]))
        if tag in _VOID:
            return
        self._stack.append(skip)
        if skip:
            self._skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not self._stack:
            return
        if self._stack.pop():
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._skip_depth == 0:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The page's own words as a reader meets them: text nodes and alt/title/placeholder/aria-label."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts + parser.attributes).split())


def english_catalog_sentences() -> list[str]:
    """The English msgids of the Spanish catalog whose Spanish differs, cut at their placeholders and markup
    into fragments of three words or more: any of them in a Spanish page means a string was not translated."""
    with open(CATALOG_MO, "rb") as handle:
        catalog = read_mo(handle)
    fragments: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        for english in ids:
            if english in strings:
                continue
            for piece in re.split(r"%\([a-z_]+\)[sd]|\{[^}]*\}|<[^>]+>", english):
                piece = " ".join(piece.split()).strip(" .,:;()#")
                if len(piece.split()) >= 3:
                    fragments.add(piece)
    return sorted(fragments)


def untranslated(html: str) -> list[str]:
    """What in a page meant to be Spanish is English: catalog sentences, then English-only words."""
    text = visible_text(html)
    found = [f"catalog: {s!r}" for s in english_catalog_sentences() if s in text]
    words = {w.lower() for w in _WORD.findall(text)}
    found += [f"word: {w!r}" for w in sorted(words & ENGLISH_WORDS)]
    return found
