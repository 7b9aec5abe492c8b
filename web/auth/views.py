"""Sign in (throttled, see web/throttle.py), sign out, and changing one's password."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from gradebook import course, users
from gradebook.models import User
from web import security
from web.auth.forms import ChangePasswordForm, LanguageForm, LoginForm, LogoutForm
from web.db import read_session, write_session
from web.i18n import SESSION_LOCALE, SUPPORTED_LOCALES, gettext, refresh, render

blueprint = Blueprint("auth", __name__)


@blueprint.get("/")
def index() -> Response:
    """The landing page: sign in, or go to one's home."""
    user = security.current_user()
    if user is None:
        return redirect(url_for("auth.login"))
    return redirect(home_url(user.is_staff))


def home_url(is_staff: bool) -> str:
    """Where a user lands after signing in."""
    return url_for("dashboard.index") if is_staff else url_for("submissions.index")


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    """Sign in (throttled in web/throttle.py); a first login goes on to choose a password."""
    form = LoginForm()
    if form.validate_on_submit():
        session = read_session()
        # Through the read session: the slow hash check must not hold SQLite's write lock. An outdated
        # hash the check would upgrade is left as it is (rolled back; the upgrade is an optimisation).
        user = users.authenticate(session, form.username.data.strip(), form.password.data)
        session.rollback()
        if user is not None:
            security.log_in(user)
            if user.must_change_password:
                return redirect(url_for("auth.change_password", next=_safe_next(request.args.get("next"))))
            return redirect(_safe_next(request.args.get("next")) or home_url(users.is_staff(user)))
        form.password.errors.append(gettext("Wrong username or password."))
        return render_template("auth/login.html", form=form), 401
    if request.method == "GET" and security.current_user() is not None:
        return redirect(url_for("auth.index"))
    return render_template("auth/login.html", form=form)


@blueprint.route("/account/password", methods=["GET", "POST"])
@security.login_required
def change_password() -> Response | tuple[str, int] | str:
    """Choose a new password; other sessions of the account end (web/security.py)."""
    me = security.require_user()
    form = ChangePasswordForm()
    if form.validate_on_submit():
        session = write_session()
        user = session.get(User, me.id)
        if user is None:
            security.log_out()
            return redirect(url_for("auth.login"))
        try:
            users.change_password(session, user, form.current_password.data, form.new_password.data)
        except users.UserError as exc:
            form.new_password.errors.append(render(exc.message, str(exc)))
            return render_template("auth/password.html", form=form, forced=me.must_change_password,
                                   min_length=users.MIN_PASSWORD_LENGTH), 400
        session.commit()
        security.log_in(user)  # this session carries the new fingerprint; every other one has ended
        flash(gettext("Your password is changed. Any other session of your account is signed out."), "success")
        return redirect(_safe_next(request.args.get("next")) or home_url(me.is_staff))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form, forced=me.must_change_password,
                                   min_length=users.MIN_PASSWORD_LENGTH), status


@blueprint.post("/logout")
def logout() -> Response:
    """Sign out (POST with the CSRF token)."""
    form = LogoutForm()
    if form.validate_on_submit():
        locale = session.get(SESSION_LOCALE)
        security.log_out()
        if locale in SUPPORTED_LOCALES:
            session[SESSION_LOCALE] = locale  # the sign-in page keeps speaking the language just used
        flash(gettext("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@blueprint.post("/language")
def language() -> Response:
    """Switch the portal's language (the header's buttons): kept in the session, and saved on the account
    of a signed-in user so that it follows them to other browsers."""
    chosen = request.form.get("locale", "")
    if not LanguageForm().validate_on_submit() or chosen not in SUPPORTED_LOCALES:
        abort(400)
    session[SESSION_LOCALE] = chosen
    me = security.current_user()
    if me is not None:
        db = write_session()
        user = db.get(User, me.id)
        if user is not None:
            course.set_user_locale(db, user, chosen)
            db.commit()
    refresh()
    return redirect(_safe_next(request.args.get("next")) or url_for("auth.index"))


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: '/x' yes, '//evil.example' and 'https://…' no."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
