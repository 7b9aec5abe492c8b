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
from web.services.models import Role, UserView, user_view

P = ParamSpec("P")
R = TypeVar("R")

SESSION_USER = "uid"
SESSION_FINGERPRINT = "pwf"
# What a user who must choose a new password may still reach.
_ALLOWED_BEFORE_CHANGE = frozenset({"auth.change_password", "auth.logout", "static"})


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
    return redirect(url_for("auth.change_password", next=request.full_path.rstrip("?")))


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
    """Start a fresh session for `user` (a session id planted before login is worthless: no fixation)."""
    session.clear()
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
                abort(403, description=f"This page is for {_names(roles)}; you are signed in as a "
                                       f"{_ROLE_NAMES[user.role]}.")
            return view(*args, **kwargs)

        return wrapped

    return decorate


_ROLE_NAMES: dict[str, str] = {"student": "student", "ta": "TA", "instructor": "instructor"}


def _names(roles: tuple[Role, ...]) -> str:
    plural = {"student": "students", "ta": "TAs", "instructor": "instructors"}
    words = [plural[r] for r in roles]
    return " and ".join(words)


def role_name(role: str) -> str:
    """The role as the pages name it: 'TA', 'instructor', 'student'."""
    return _ROLE_NAMES.get(role, role)


def template_globals() -> dict[str, Any]:
    """What every template may use: the current user and the formatting helpers."""
    from web.services.pages import status_label

    return {"current_user": current_user(), "role_name": role_name, "status_label": status_label,
            "fmt_points": fmt_points}


def fmt_points(value: float | None) -> str:
    """12.0 -> '12', 9.6 -> '9.6': grades after a late penalty can be fractional."""
    if value is None:
        return "–"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
