"""Instructor actions: regrade and manual override, each with a reason that is audited; course settings."""
from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, StopValidation, ValidationError

from grader.questions import get_question
from web.i18n import LANGUAGE_NAMES, SUPPORTED_LOCALES, gettext
from web.i18n import lazy_gettext as _l


def _stripped(text: str | None) -> str | None:
    """Blank space around a reason does not count towards its length (the gradebook stores it stripped)."""
    return text.strip() if isinstance(text, str) else text


class RegradeForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no type information
    """An instructor's regrade of one submission, with the reason kept on the change-set."""

    reason = StringField(_l("Reason"), filters=[_stripped],
                         validators=[DataRequired(_l("Say why this submission is regraded.")),
                                     Length(min=3, max=500, message=_l("Write between 3 and 500 characters."))])


class PointsField(IntegerField):  # type: ignore[misc]  # wtforms ships no type information
    """A question's points: a whole number from 0 to the question's maximum (the form's `max_points`), with one
    error per problem (WTForms would add its own "Not a valid integer value." to the range's)."""

    def pre_validate(self, form: OverrideForm) -> None:
        """Replace a value that is not a whole number by one error that names the bounds, and stop there."""
        if not self.process_errors:
            return
        blank = not (self.raw_data and self.raw_data[0].strip())
        self.errors = [gettext("Give the points.") if blank else
                       gettext("Give a whole number from 0 to %(max)s.", max=form.max_points)]
        raise StopValidation()


def _within_question(form: OverrideForm, field: PointsField) -> None:
    """The points lie between 0 and the question's maximum."""
    if field.data < 0:
        raise ValidationError(gettext("Give a whole number from 0 to %(max)s.", max=form.max_points))
    if field.data > form.max_points:
        raise ValidationError(gettext("%(question)s is worth at most %(max)s points.", question=form.question,
                                      max=form.max_points))


class OverrideForm(FlaskForm):  # type: ignore[misc]
    """An instructor's override of one question's points, with a reason the student and staff see (the
    student's result page shows it). One form per question, prefixed with its id (`override_forms`), so that a
    refusal lands on the form it is about; its `question` and `max_points` bound the points."""

    question: str
    max_points: int
    points = PointsField(_l("Points"), validators=[InputRequired(_l("Give the points.")), _within_question])
    # DataRequired looks at the reason after stripping: blank space is no reason either.
    reason = TextAreaField(_l("Reason (the student sees it too)"), filters=[_stripped], validators=[
        DataRequired(_l("An override needs a reason.")),
        Length(min=3, max=1000, message=_l("Write between 3 and 1000 characters."))])


def override_form(question: str) -> OverrideForm:
    """The override form of one question, its fields prefixed with the question's id ("q1-points") and its
    points bounded by the question's maximum."""
    form = OverrideForm(prefix=question)
    form.question = question
    form.max_points = get_question(question).max_points
    return form


def override_forms(questions: Iterable[str]) -> dict[str, OverrideForm]:
    """An override form per question (`override_form`)."""
    return {question: override_form(question) for question in questions}


class ApplyForm(FlaskForm):  # type: ignore[misc]
    """Applying a reviewed change-set: no fields, only the CSRF token."""


class CourseForm(FlaskForm):  # type: ignore[misc]
    """The course's default language: pages use it when neither the user nor the browser names one."""

    default_locale = SelectField(_l("Default language"),
                                 choices=[SelectChoice(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES],
                                 validators=[AnyOf(SUPPORTED_LOCALES, message=_l("Choose one of the languages."))])
