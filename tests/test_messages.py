"""grader.messages: templates with values, stored in English and parsed back with suspicion."""

from __future__ import annotations

import pytest

from grader.messages import N_, Message, message, parse_message, placeholders


def test_a_message_keeps_its_template_values_and_english_text() -> None:
    m = message(N_("Final loss {loss:.6f} meets the goal ({goal:g})."), loss=0.0041, goal=0.02)
    assert m.text == "Final loss 0.004100 meets the goal (0.02)."
    assert m.to_dict() == {"template": m.template, "params": {"loss": 0.0041, "goal": 0.02}}
    assert parse_message(m.to_dict()) == m
    assert placeholders(m.template) == {"loss", "goal"}


@pytest.mark.parametrize("data", [
    None, "text", {"template": ""}, {"template": 3},
    {"template": "a {x}", "params": {}},  # a placeholder without a value
    {"template": "a", "params": {"x": 1}},  # a value without a placeholder
    {"template": "a {x}", "params": {"x": [1]}}, {"template": "a {x}", "params": {"x": True}},
    {"template": "a {x.__class__}", "params": {"x": 1}}, {"template": "a {x[0]}", "params": {"x": "ab"}},
    {"template": "a {x!r}", "params": {"x": "ab"}}, {"template": "a {x:>99999999}", "params": {"x": "ab"}},
    {"template": "a {x", "params": {"x": 1}}, {"template": "a {x:.2f}", "params": {"x": "not a number"}},
    {"template": "x" * 5000, "params": {}}, {"template": "a {x}", "params": {"x": "y" * 5000}},
])
def test_unsound_messages_are_refused_not_rendered(data: object) -> None:
    assert parse_message(data) is None


def test_from_dict_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="lacks values"):
        Message.from_dict({"template": "Line {line}.", "params": {}})
