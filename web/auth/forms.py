"""Sign in, sign out, and choosing one's own password."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from gradebook.users import MIN_PASSWORD_LENGTH


class LoginForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no type information
    """Username and password."""

    username = StringField("Username", validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})


class LogoutForm(FlaskForm):  # type: ignore[misc]
    """Nothing but the CSRF token."""


class ChangePasswordForm(FlaskForm):  # type: ignore[misc]
    """The current password and the new one twice; gradebook.users.change_password has the last word."""

    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=256)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=256,
                                                           message=f"Use at least {MIN_PASSWORD_LENGTH} characters.")],
        render_kw={"autocomplete": "new-password", "minlength": MIN_PASSWORD_LENGTH})
    confirm = PasswordField("New password again", validators=[
        DataRequired(), EqualTo("new_password", message="The two new passwords differ.")],
        render_kw={"autocomplete": "new-password"})
