"""The starter kit: the page, a kit per assignment and student, and the public MNIST data.

The data has two doors: /kit/mnist-public.npz for a signed-in browser, and /kit/data/<token>/mnist-public.npz
for the kit's check.py, whose kit.json carries the token: signed with the portal's secret, naming the
student and their current password, so it ends when the password changes or the account is disabled.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, render_template, send_file, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from gradebook import assignments
from gradebook.models import User
from grader import mnist
from nngrade.settings import Settings
from web import security
from web.db import read_session
from web.i18n import current_locale
from web.services import kit

blueprint = Blueprint("kit", __name__)

DATA_TOKEN_SALT = "nngrade.kit-data"
# A course term, with room: the link lives in kit.json on the student's machine.
DATA_TOKEN_MAX_AGE_S = 200 * 24 * 3600


def _settings() -> Settings:
    settings: Settings = current_app.extensions["nngrade.settings"]
    return settings


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_settings().secret_key, salt=DATA_TOKEN_SALT)


def _public_data() -> kit.PublicData | None:
    """The bundle, or None (logged) when the server's MNIST cache cannot give one right now."""
    settings = _settings()
    try:
        return kit.public_data(settings.data_dir, settings.var_dir / "cache" / "kit")
    except mnist.MnistDataError as exc:
        current_app.logger.error("the public MNIST bundle cannot be built: %s", exc)
        return None


def _language() -> str:
    """The README's language: the page's own (the user's choice, else the browser's, else the course's)."""
    chosen = current_locale()
    return chosen if chosen in kit.LANGUAGES else kit.LANGUAGES[0]


@blueprint.get("/")
@security.login_required
def index() -> str:
    """The kit page: what is in it, one download per assignment, and the data."""
    session = read_session()
    listed = assignments.list_assignments(session)
    return render_template("kit/index.html", files=kit.kit_files(), kit_name=kit.KIT_NAME, assignments=listed)


@blueprint.get(f"/<slug>/{kit.KIT_NAME}")
@security.login_required
def download(slug: str) -> Response:
    """This student's kit for one assignment: its seeds and limits, and their personal data link (left out,
    with the page's download as the way, when the server cannot offer the data right now)."""
    user = security.require_user()
    session = read_session()
    chosen = assignments.get_assignment(session, slug)
    row = session.get(User, user.id)
    if chosen is None or row is None:
        abort(404)
    token = _serializer().dumps({"u": row.id, "p": security.password_fingerprint(row.password_hash)})
    manifest = kit.kit_manifest(
        assignments.grading_config(chosen),
        {"slug": chosen.slug, "title": chosen.title},
        portal_url=url_for("kit.index", _external=True).removesuffix("/kit/"),
        data_url=url_for("kit.data", token=token, _external=True),
        data=_public_data(),
        language=_language(),
    )
    readme = render_template(f"kit/README.{_language()}.md", assignment=chosen, manifest=manifest,
                             kit_url=url_for("kit.index", _external=True))
    return Response(kit.build_kit(manifest, readme), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{kit.KIT_NAME}"',
        "Cache-Control": "private, no-store",
    })


@blueprint.get(f"/{mnist.PUBLIC_BUNDLE}")
@security.login_required
def public_data() -> Response:
    """The public MNIST data for a signed-in browser."""
    return _send_bundle()


@blueprint.get(f"/data/<token>/{mnist.PUBLIC_BUNDLE}")
def data(token: str) -> Response:
    """The public MNIST data for a kit's check.py, which has no session: its kit.json carries `token`."""
    try:
        claims = _serializer().loads(token, max_age=DATA_TOKEN_MAX_AGE_S)
    except BadSignature:
        abort(403, description="This data link is not valid (or too old): download the starter kit again.")
    row = read_session().scalar(select(User).where(User.id == claims.get("u"), User.active.is_(True)))
    if row is None or not hmac.compare_digest(str(claims.get("p", "")),
                                              security.password_fingerprint(row.password_hash)):
        abort(403, description="This data link has ended: download the starter kit again.")
    return _send_bundle()


def _send_bundle() -> Response:
    bundle = _public_data()
    if bundle is None:
        abort(503, description="The MNIST data is not available on the server right now; try again later.")
    response = send_file(bundle.path, mimetype="application/octet-stream", as_attachment=True,
                         download_name=mnist.PUBLIC_BUNDLE, conditional=True, etag=bundle.sha256)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
