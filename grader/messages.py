"""Sentences for people that can be shown in another language later: an English template plus its values.

The template is the gettext message id ("Final loss {loss:.4f} meets the goal."); its placeholders use
str.format syntax with at most a simple format spec (".4f", ".2%", "g", "d"). `text` renders it in English,
as it is stored in reports; the portal and the CLI look the template up in their catalogs and render the
values for the reader's locale. `N_` marks a literal template for extraction (pybabel -k N_) and returns
it unchanged, so marking costs nothing here and nothing outside this package is imported.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

Value = Union[str, int, float]


def N_(template: str) -> str:  # the gettext convention for "mark, do not translate yet"
    """Mark `template` as a message id for the catalogs; returns it unchanged."""
    return template


@dataclass(frozen=True)
class Message:
    """One sentence: `template` is the English text with {placeholders}, `params` their values."""

    template: str
    params: dict[str, Value] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The sentence in English, as reports store it."""
        return self.template.format(**self.params)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as dataclasses.asdict makes it in reports: {"template": ..., "params": {...}}."""
        return {"template": self.template, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """The inverse of to_dict; ValueError when the template's placeholders and the params disagree."""
        message = cls(str(data["template"]), {str(k): v for k, v in dict(data.get("params") or {}).items()})
        missing = placeholders(message.template) - set(message.params)
        if missing:
            raise ValueError(f"message {message.template!r} lacks values for {sorted(missing)}")
        return message


MAX_TEMPLATE_CHARS = 1000
MAX_PARAMS = 12
MAX_VALUE_CHARS = 2000
# The placeholders a template may use: a name, with at most a precision and one of f, g, d and %.
_SIMPLE_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIMPLE_SPEC = re.compile(r"(\.\d{1,2})?[fgd%]?")


def parse_message(data: Any) -> Message | None:
    """A Message from its JSON form when that form is sound, else None (the English text is shown then).

    For what crosses from untrusted places (a stored report, a student's process): the template must be a
    bounded string, the values bounded scalars, one for each placeholder, and the template must render.
    """
    if not isinstance(data, Mapping):
        return None
    template, params = data.get("template"), data.get("params") or {}
    if not isinstance(template, str) or not template or len(template) > MAX_TEMPLATE_CHARS:
        return None
    if not isinstance(params, Mapping) or len(params) > MAX_PARAMS:
        return None
    values: dict[str, Value] = {}
    for key, value in params.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            return None
        values[key] = value
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
        if any(not _SIMPLE_FIELD.fullmatch(name) or conversion or not _SIMPLE_SPEC.fullmatch(spec or "")
               for name, spec, conversion in fields):
            return None
        if {name for name, _, _ in fields} != set(values):
            return None
        candidate = Message(template, values)
        candidate.text  # noqa: B018  # a template that cannot render is refused here, not on a page
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return candidate


def message(template: str, **params: Value) -> Message:
    """A Message from a template and its values: message(N_("Loss {loss:.4f}."), loss=0.0041)."""
    return Message(template, dict(params))


def placeholders(template: str) -> set[str]:
    """The placeholder names in `template`: "{a} of {b:.2f}" -> {"a", "b"}."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def match_message(text: str, templates: Iterable[str]) -> Message | None:
    """The Message among `templates` (placeholders without format specs) whose English is exactly `text`, with
    the values read back from it; None when none renders to `text`."""
    for template in templates:
        pattern = ""
        for literal, name, _spec, _conversion in string.Formatter().parse(template):
            pattern += re.escape(literal)
            if name is not None:
                pattern += f"(?P<{name}>.+?)" if f"(?P<{name}>" not in pattern else f"(?P={name})"
        found = re.fullmatch(pattern, text, flags=re.DOTALL)
        if found is not None:
            candidate = Message(template, dict(found.groupdict()))
            if candidate.text == text:
                return candidate
    return None
