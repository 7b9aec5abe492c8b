"""Sign in, sign out, choosing one's own password, and the language switch."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from gradebook.users import MIN_PASSWORD_LENGTH
from web.i18n import lazy_gettext as _l


class LoginForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no type information
    """Username and password."""

    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter your username.")), Length(max=64)],
                           render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})


class LogoutForm(FlaskForm):  # type: ignore[misc]
    """Nothing but the CSRF token."""


class LanguageForm(FlaskForm):  # type: ignore[misc]
    """Nothing but the CSRF token: the chosen language comes as the pressed button's value."""


class ChangePasswordForm(FlaskForm):  # type: ignore[misc]
    """The current password and the new one twice; gradebook.users.change_password has the last word."""

    current_password = PasswordField(_l("Current password"), validators=[
        DataRequired(_l("Enter your current password.")), Length(max=256)],
        render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(
        _l("New password"), validators=[
            DataRequired(_l("Enter a new password.")),
            Length(min=MIN_PASSWORD_LENGTH, max=256,
                   message=_l("Use at least %(count)s characters.", count=MIN_PASSWORD_LENGTH))],
        render_kw={"autocomplete": "new-password", "minlength": MIN_PASSWORD_LENGTH})
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(_l("Enter the new password again.")),
        EqualTo("new_password", message=_l("The two new passwords differ."))],
        render_kw={"autocomplete": "new-password"})
