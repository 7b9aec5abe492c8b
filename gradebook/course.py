"""The course's settings that instructors choose: for now, the language pages use when nobody says one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gradebook.models import CourseSettings, User, utcnow

SETTINGS_ID = 1
FALLBACK_LOCALE = "en"


def default_locale(session: Session) -> str:
    """The course's default language ("en" until an instructor sets one)."""
    value = session.scalar(select(CourseSettings.default_locale).where(CourseSettings.id == SETTINGS_ID))
    return value or FALLBACK_LOCALE


def set_default_locale(session: Session, locale: str) -> None:
    """Store the course's default language; the caller checks that the portal has it and commits."""
    row = session.get(CourseSettings, SETTINGS_ID)
    if row is None:
        session.add(CourseSettings(id=SETTINGS_ID, default_locale=locale, updated_at=utcnow()))
    else:
        row.default_locale = locale
        row.updated_at = utcnow()
    session.flush()


def set_user_locale(session: Session, user: User, locale: str | None) -> None:
    """Store the language `user` chose (None: follow the browser, then the course default)."""
    user.locale = locale
    session.flush()
