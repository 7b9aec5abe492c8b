"""Who is asking: the session's user, role checks for views, and what every template needs.

The session cookie carries the user id and a fingerprint of the user's password hash (keyed with the
secret key). A password change changes the hash, so every other session of that user ends at its next
request; the session that made the change gets the new fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from gradebook.models import User
from web.db import read_session
from web.i18n import gettext, lazy_gettext
from web.services.models import Role, UserView, user_view

P = ParamSpec("P")
R = TypeVar("R")

SESSION_USER = "uid"
SESSION_FINGERPRINT = "pwf"
# What a user who must choose a new password may still reach.
_ALLOWED_BEFORE_CHANGE = frozenset({"auth.change_password", "auth.logout", "auth.language", "static"})


def password_fingerprint(password_hash: str) -> str:
    """A keyed digest of the password hash: changes whenever the password does, reveals nothing of it."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def load_user() -> None:
    """before_request: g.user from the session, or None; a session of a changed password is cleared."""
    g.user = None
    user_id = session.get(SESSION_USER)
    if not isinstance(user_id, int):
        return
    row = read_session().scalar(select(User).where(User.id == user_id, User.active.is_(True)))
    if row is None or not hmac.compare_digest(str(session.get(SESSION_FINGERPRINT, "")),
                                              password_fingerprint(row.password_hash)):
        session.clear()
        return
    g.user = user_view(row)


def require_password_change() -> Response | None:
    """before_request: a user whose password was handed out (first login) chooses their own first."""
    user = current_user()
    if user is None or not user.must_change_password or request.endpoint in _ALLOWED_BEFORE_CHANGE:
        return None
    # Only a page can be returned to: the address of a form's POST answers a GET with 405.
    back = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.change_password", next=back))


def current_user() -> UserView | None:
    """The signed-in user of this request, or None."""
    user: UserView | None = g.get("user")
    return user


def require_user() -> UserView:
    """The signed-in user; 401 when there is none (views behind login_required never see that)."""
    user = current_user()
    if user is None:
        abort(401)
    return user


def log_in(user: User) -> None:
    """Start a fresh session for `user` (a session id planted before login is worthless: no fixation); the
    language chosen before signing in stays."""
    from web.i18n import SESSION_LOCALE

    locale = session.get(SESSION_LOCALE)
    session.clear()
    if isinstance(locale, str):
        session[SESSION_LOCALE] = locale
    session[SESSION_USER] = user.id
    session[SESSION_FINGERPRINT] = password_fingerprint(user.password_hash)
    session.permanent = True


def log_out() -> None:
    """End this session."""
    session.clear()


def login_required(view: Callable[P, R]) -> Callable[P, R | Any]:
    """Anonymous users go to the login page, then come back."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Any:
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def roles_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R | Any]]:
    """Anonymous users go to the login page; logged-in users without the role get the 403 page."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | Any]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Any:
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if user.role not in roles:
                abort(403, description=gettext("This page is for %(roles)s; you are signed in as: %(role)s.",
                                               roles=_names(roles), role=role_name(user.role)))
            return view(*args, **kwargs)

        return wrapped

    return decorate


_ROLE_NAMES: dict[str, Any] = {"student": lazy_gettext("student"), "ta": lazy_gettext("TA"),
                               "instructor": lazy_gettext("instructor")}
_PLURAL_NAMES: dict[str, Any] = {"student": lazy_gettext("students"), "ta": lazy_gettext("TAs"),
                                 "instructor": lazy_gettext("instructors")}


def _names(roles: tuple[Role, ...]) -> str:
    words = [str(_PLURAL_NAMES[r]) for r in roles]
    while len(words) > 1:
        words[-2:] = [gettext("%(first)s and %(second)s", first=words[-2], second=words[-1])]
    return words[0]


def role_name(role: str) -> str:
    """The role as the pages name it, in the request's language: 'TA', 'instructor', 'student'."""
    name = _ROLE_NAMES.get(role)
    return str(name) if name is not None else role


def template_globals() -> dict[str, Any]:
    """What every template may use: the current user and the page-wording helpers."""
    from web.services.pages import queue_text, status_detail, status_label

    return {"current_user": current_user(), "role_name": role_name, "status_label": status_label,
            "queue_text": queue_text, "status_detail": status_detail}
