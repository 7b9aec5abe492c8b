"""Sign-in throttling with Flask-Limiter, counted in Redis so every portal process sees the same counts.

Only failed sign-ins count, per account (the username typed) and per network address, in a moving window.
Once a limit is reached, every sign-in for that account or from that address is refused, even with the
right password, until the window frees a slot; the login page says how long that is.
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from web.i18n import gettext, ngettext

# Failed sign-ins allowed per window. A lab behind one NAT address shares the per-address budget, hence
# its size; set both lower in app.config to taste.
DEFAULT_PER_ACCOUNT = "10 per 15 minutes"
DEFAULT_PER_ADDRESS = "100 per 15 minutes"
ACCOUNT_MESSAGE = "Too many failed sign-ins for this account."
ADDRESS_MESSAGE = "Too many failed sign-ins from your network address."

_EXTENSION = "nngrade.limiter"
LOGIN_ENDPOINT = "auth.login"


def init_app(app: Flask, storage_uri: str) -> None:
    """Throttle the login view of `app` (blueprints registered first), counting in `storage_uri` (redis://…;
    memory:// for fast tests). A Redis that is down is logged, and each process then counts on its own until
    it is back: sign-in keeps working."""
    app.config.setdefault("NNGRADE_LOGIN_LIMIT_PER_ACCOUNT", DEFAULT_PER_ACCOUNT)
    app.config.setdefault("NNGRADE_LOGIN_LIMIT_PER_ADDRESS", DEFAULT_PER_ADDRESS)
    # One limiter per app: its storage is the app's, even when tests build several apps in one process.
    limiter = Limiter(get_remote_address, app=app, storage_uri=storage_uri, strategy="moving-window",
                      key_prefix="nngrade-throttle", swallow_errors=True, in_memory_fallback_enabled=True,
                      headers_enabled=False)
    app.extensions[_EXTENSION] = limiter
    view: Any = app.view_functions[LOGIN_ENDPOINT]
    # Failed sign-ins only: a correct password costs nothing until a limit is reached.
    view = limiter.limit(_per_account, key_func=account_key, methods=["POST"], deduct_when=_failed,
                         scope="login-account", error_message=ACCOUNT_MESSAGE)(view)
    view = limiter.limit(_per_address, key_func=address_key, methods=["POST"], deduct_when=_failed,
                         scope="login-address", error_message=ADDRESS_MESSAGE)(view)
    app.view_functions[LOGIN_ENDPOINT] = view


def account_key() -> str:
    """The account a sign-in is for: the username as typed, trimmed and lower-cased."""
    return "account:" + (request.form.get("username") or "").strip().lower()[:64]


def address_key() -> str:
    """The network address a sign-in comes from."""
    return "address:" + get_remote_address()


def _per_account() -> str:
    return str(current_app.config["NNGRADE_LOGIN_LIMIT_PER_ACCOUNT"])


def _per_address() -> str:
    return str(current_app.config["NNGRADE_LOGIN_LIMIT_PER_ADDRESS"])


def _failed(response: Response) -> bool:
    return response.status_code == 401


def wait_s(error: RateLimitExceeded) -> int:
    """Seconds until the breached limit lets one more sign-in through (at least 1)."""
    limiter: Limiter = current_app.extensions[_EXTENSION]
    window_s = int(error.limit.limit.get_expiry())
    current = limiter.current_limit
    if current is not None and current.breached:
        # reset_at is rounded up to the next whole second; never say more than the window itself.
        return max(1, min(window_s, math.ceil(current.reset_at - time.time())))
    return max(1, window_s)


def wait_text(seconds: int) -> str:
    """'40 seconds', '12 minutes': how long to wait, rounded up, in the request's language."""
    if seconds < 90:
        return ngettext("%(num)s second", "%(num)s seconds", seconds)
    minutes = math.ceil(seconds / 60)
    return ngettext("%(num)s minute", "%(num)s minutes", minutes)


def reason_text(error: RateLimitExceeded) -> str:
    """Which limit refused the sign-in, in the request's language."""
    if error.description == ADDRESS_MESSAGE:
        return gettext("Too many failed sign-ins from your network address.")
    return gettext("Too many failed sign-ins for this account.")
