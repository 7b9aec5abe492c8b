"""`create_app(settings)`: the portal wired from register_* calls."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any

from flask import Flask, Response, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from nngrade.settings import Settings, SettingsError
from web import db, i18n, queue, security, throttle
from web.extensions import csrf
from web.i18n import gettext
from web.queue import RunQueue

# Multipart framing around the file; the file itself is checked against upload_max_bytes in the view,
# which gives the friendlier message, so the hard cap sits a little above it.
_FORM_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings, run_queue: RunQueue | None = None, *, testing: bool = False,
               limiter_storage_uri: str | None = None) -> Flask:
    """The portal for `settings`. Tests may pass their own `run_queue` and a `memory://` limiter storage;
    otherwise grading runs go to Celery and sign-in counts to Redis (settings.redis_url).

    Raises SettingsError when insecure cookies are asked for on an address that is not loopback, and
    i18n.CatalogError when the translations are not compiled (scripts/setup.d/25-catalogs.sh).
    """
    app = Flask(__name__)
    register_proxies(app, settings.trusted_proxies)
    register_config(app, settings, testing)
    i18n.init_app(app)
    db.init_app(app, settings.database_url)
    queue.init_app(app, settings, run_queue)
    register_extensions(app)
    register_blueprints(app)
    throttle.init_app(app, limiter_storage_uri or settings.redis_url)
    register_errorhandlers(app)
    register_hooks(app)
    return app


def register_proxies(app: Flask, hops: int) -> None:
    """Behind `hops` reverse proxies, take the client's address, scheme and host from their X-Forwarded-*
    headers (werkzeug's ProxyFix), so sign-in throttling counts per real client and not per proxy. With
    0 (the default) the headers are ignored: a client reaching the portal directly could forge them."""
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or 'localhost') is reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def cookies_secure(settings: Settings) -> bool:
    """Whether session cookies carry the Secure flag: always, except on a portal reachable on loopback only.

    NNGRADE_INSECURE_COOKIES=1 elsewhere would send sessions over plain HTTP across a network, so the
    portal refuses to start (SettingsError) rather than quietly ignore the setting.
    """
    if settings.session_cookie_secure:
        return True
    host = settings.published_host or settings.web_host
    if is_loopback(host):
        return False
    raise SettingsError(
        f"NNGRADE_INSECURE_COOKIES=1 drops the Secure flag from session cookies, which is safe only on a "
        f"portal reachable on loopback alone, but it is reachable on {host or 'every address'}. Serve the "
        "portal over HTTPS and unset NNGRADE_INSECURE_COOKIES, or bind it to 127.0.0.1.")


def register_config(app: Flask, settings: Settings, testing: bool) -> None:
    """Flask settings from ours: secret key, upload cap, session cookie flags and lifetimes."""
    if not settings.secret_key:
        raise ValueError("the web app needs settings.secret_key (NNGRADE_SECRET_KEY)")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=testing,
        MAX_CONTENT_LENGTH=settings.upload_max_bytes * 2 + _FORM_OVERHEAD_BYTES,
        SESSION_COOKIE_NAME="nngrade_session",
        SESSION_COOKIE_SECURE=cookies_secure(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # Re-signing the cookie on every poll costs time and gains nothing within a 12-hour session.
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions["nngrade.settings"] = settings


def register_extensions(app: Flask) -> None:
    """CSRF protection on every form."""
    csrf.init_app(app)


def register_blueprints(app: Flask) -> None:
    """One blueprint per feature; templates mirror their names."""
    from web.auth.views import blueprint as auth
    from web.dashboard.views import blueprint as dashboard
    from web.instructor.views import blueprint as instructor
    from web.kit.views import blueprint as kit
    from web.submissions.views import blueprint as submissions

    app.register_blueprint(auth)
    app.register_blueprint(submissions)
    app.register_blueprint(kit, url_prefix="/kit")
    app.register_blueprint(dashboard, url_prefix="/dashboard")
    app.register_blueprint(instructor, url_prefix="/instructor")


def register_errorhandlers(app: Flask) -> None:
    """Friendly error pages; a throttled sign-in shows the login page with when to retry."""
    def render_error(error: HTTPException) -> tuple[str, int]:
        code = error.code or 500
        return render_template("errors/error.html", error=error, code=code), code

    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, render_error)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return render_template("errors/csrf.html", reason=error.description), 400

    @app.errorhandler(RateLimitExceeded)
    def throttled(error: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
        from web.auth.forms import LoginForm

        wait_s = throttle.wait_s(error)
        message = " ".join((throttle.reason_text(error), gettext(
            "Try again in %(wait)s, or ask your instructor to reset your password if you forgot it.",
            wait=throttle.wait_text(wait_s))))
        return (render_template("auth/login.html", form=LoginForm(), throttled=message), 429,
                {"Retry-After": str(wait_s)})


def register_hooks(app: Flask) -> None:
    """Per request: the user, the forced password change, template globals, security headers."""
    app.before_request(security.load_user)
    app.before_request(security.require_password_change)
    app.context_processor(security.template_globals)

    @app.after_request
    def secure_headers(response: Response) -> Response:
        headers: dict[str, Any] = {
            "Content-Security-Policy": (
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
        }
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static" and "Cache-Control" not in response.headers:
            # Pages carry personal data; keep them out of shared caches and the back-forward cache.
            response.headers["Cache-Control"] = "private, no-store"
        return response
