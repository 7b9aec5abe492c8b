"""Instructor actions: regrade and manual override, each with a reason that is audited; course settings."""
from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange

from web.i18n import LANGUAGE_NAMES, SUPPORTED_LOCALES
from web.i18n import lazy_gettext as _l


class RegradeForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no type information
    """An instructor's regrade of one submission, with the reason kept on the change-set."""

    reason = StringField(_l("Reason"), validators=[InputRequired(_l("Say why this submission is regraded.")),
                                                   Length(min=3, max=500,
                                                          message=_l("Write between 3 and 500 characters."))])


def _stripped(text: str | None) -> str | None:
    """Blank space around a reason does not count towards its length (the gradebook stores it stripped)."""
    return text.strip() if isinstance(text, str) else text


class OverrideForm(FlaskForm):  # type: ignore[misc]
    """An instructor's override of one question's points, with a reason the student and staff see (the
    student's result page shows it). One form per question, prefixed with its id (`override_forms`), so that a
    refusal lands on the form it is about."""

    points = IntegerField(_l("Points"), validators=[
        InputRequired(_l("Give the points.")),
        NumberRange(min=0, max=100, message=_l("Give a whole number from 0 to 100."))])
    reason = TextAreaField(_l("Reason (the student sees it too)"), filters=[_stripped], validators=[
        InputRequired(_l("An override needs a reason.")),
        Length(min=3, max=1000, message=_l("Write between 3 and 1000 characters."))])


def override_forms(questions: Iterable[str]) -> dict[str, OverrideForm]:
    """An override form per question, its fields prefixed with the question's id ("q1-points")."""
    return {question: OverrideForm(prefix=question) for question in questions}


class ApplyForm(FlaskForm):  # type: ignore[misc]
    """Applying a reviewed change-set: no fields, only the CSRF token."""


class CourseForm(FlaskForm):  # type: ignore[misc]
    """The course's default language: pages use it when neither the user nor the browser names one."""

    default_locale = SelectField(_l("Default language"),
                                 choices=[SelectChoice(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES],
                                 validators=[AnyOf(SUPPORTED_LOCALES, message=_l("Choose one of the languages."))])
