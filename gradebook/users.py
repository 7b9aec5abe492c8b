"""Accounts: argon2 password hashes, roles and authentication."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from gradebook.models import ROLES, User
from grader.messages import N_, Message, message

# Accounts that `nngrade canary` uses to probe a running service: students to the portal, never graded as
# students (no export, no dashboard row, no forced password change).
CANARY_PREFIX = "canary-"
MIN_PASSWORD_LENGTH = 10
USERNAME_MAX_CHARS = 64

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    """An account request that cannot be honoured; the message says why (`message`: translatable, or None)."""

    def __init__(self, text: str, message: Message | None = None) -> None:
        super().__init__(text)
        self.message = message


def _user_error(template: str, **params: int) -> UserError:
    why = message(template, **params)
    return UserError(why.text, why)


def hash_password(password: str) -> str:
    """An argon2id hash of `password`, salted."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`; False for a malformed hash too."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """An initial password: 16 URL-safe characters, about 96 bits, starting with a letter or digit.

    The first character is never '-' (token_urlsafe's alphabet has it): the credentials CSV would have to
    neutralise it as a spreadsheet formula, and the password handed out would then be wrong.
    """
    while True:
        password = secrets.token_urlsafe(12)
        if password[0].isalnum():
            return password


def username_problem(username: str) -> str:
    """Why `username` cannot name an account, or "" when it can: 1 to 64 characters, none of them a space or
    an invisible one (a name with a space, a tab or Excel's non-breaking space cannot be typed to sign in).
    A username that reads like a spreadsheet formula is allowed: every CSV cell is neutralised
    (gradebook.csvcells)."""
    if not username or len(username) > USERNAME_MAX_CHARS:
        return f"a username needs 1 to {USERNAME_MAX_CHARS} characters, got {len(username)}"
    if any(c.isspace() or not c.isprintable() for c in username):
        return f"username {username!r} holds a space or an invisible character"
    return ""


def create_user(
    session: Session, username: str, name: str, password: str, role: str = "student", email: str | None = None,
    *, must_change_password: bool = True,
) -> User:
    """A new account; it must choose its own password at first login unless `must_change_password` is False.

    Raises UserError for an unknown role, a bad username or one already taken.
    """
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    problem = username_problem(username)
    if problem:
        raise UserError(problem)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, name=name, role=role, email=email, password_hash=hash_password(password),
                must_change_password=must_change_password and not is_canary_name(username))
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User | None:
    """The account named `username`, active or not."""
    return session.scalar(select(User).where(User.username == username))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None. Upgrades an outdated hash in place (flush to keep)."""
    user = get_user(session, username)
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def set_password(session: Session, user: User, password: str, *, must_change: bool = False) -> None:
    """Replace the user's password (no checks: staff tools); `must_change` forces a change at next login."""
    user.password_hash = hash_password(password)
    user.must_change_password = must_change
    session.flush()


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """The user's own change: `current` must be right and `new` acceptable; clears the forced change.

    Raises UserError with a sentence for the user when the current password is wrong or the new one is weak.
    """
    if not verify_password(user.password_hash, current):
        raise _user_error(N_("The current password is wrong."))
    problem = password_problem_message(user, new)
    if problem is not None:
        raise UserError(problem.text, problem)
    if verify_password(user.password_hash, new):
        raise _user_error(N_("Choose a password different from the current one."))
    set_password(session, user, new, must_change=False)


def password_problem(user: User, password: str) -> str:
    """Why `password` is not acceptable for `user`, or "" when it is."""
    problem = password_problem_message(user, password)
    return "" if problem is None else problem.text


def password_problem_message(user: User, password: str) -> Message | None:
    """Why `password` is not acceptable for `user` (translatable), or None when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return message(N_("Use at least {count} characters."), count=MIN_PASSWORD_LENGTH)
    if password.strip().lower() in {user.username.lower(), (user.name or "").strip().lower()}:
        return message(N_("Do not use your username or your name as the password."))
    return None


def is_staff(user: User) -> bool:
    """TAs and instructors."""
    return user.role in ("ta", "instructor")


def is_canary_name(username: str) -> bool:
    """Whether `username` is one of `nngrade canary`'s probe accounts."""
    return username.startswith(CANARY_PREFIX)


def graded_students() -> ColumnElement[bool]:
    """SQL condition for the accounts a course grades: students, without canary accounts."""
    return (User.role == "student") & ~User.username.startswith(CANARY_PREFIX, autoescape=True)
