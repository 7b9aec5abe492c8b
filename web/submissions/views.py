"""A student's assignments and uploads, the live status, and the result pages.

An upload names its assignment in the URL (/assignments/<slug>/submissions); the portal never picks one.
The path of an upload: `upload` → grader.source.check_source (is it a models.py?) →
gradebook.submissions.create_submission (limits, stored bytes, queued run) → commit → web.queue (publish).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from gradebook import assignments, flags, submissions
from gradebook.models import Assignment, User, utcnow
from grader.messages import N_, message
from grader.source import SourceProblem, check_source
from nngrade.settings import Settings
from web import security
from web.db import read_session, write_session
from web.i18n import current_locale, fmt_time, fmt_wait, gettext, render
from web.instructor.forms import RegradeForm, override_forms
from web.queue import run_queue
from web.services import feedback, history, integrity, pages
from web.services.eta import Throughput
from web.services.models import GradeView, SubmissionView, UploadAllowance
from web.submissions import queries
from web.submissions.forms import UploadForm

blueprint = Blueprint("submissions", __name__)
# A result page's pictures are 20-80 kB each: a few hundred stay rendered per process.
_chart_png = feedback.png_cache(max_bytes=16 * 2**20)
EXPECTED_NAME = "models.py"
# The queue's pace changes slowly; every student polling status.json need not measure it again.
PACE_TTL_S = 5.0


def _settings() -> Settings:
    settings: Settings = current_app.extensions["nngrade.settings"]
    return settings


def _limits() -> submissions.UploadLimits:
    s = _settings()
    return submissions.UploadLimits(max_bytes=s.upload_max_bytes, min_interval_s=s.upload_min_interval_s,
                                    per_day=s.uploads_per_day)


def current_pace() -> Throughput:
    """The queue's measured pace for estimates, measured at most every PACE_TTL_S seconds per process."""
    cached: tuple[float, Throughput] | None = current_app.extensions.get("nngrade.pace")
    if cached is not None and time.monotonic() - cached[0] < PACE_TTL_S:
        return cached[1]
    # Slots from the workers' heartbeats in the gradebook: asking the broker would hold the request.
    session = read_session()
    pace = queries.throughput(session, queries.grading_capacity(session)[1])
    current_app.extensions["nngrade.pace"] = (time.monotonic(), pace)
    return pace


def visible_submission(submission_id: int, *, lean: bool = False) -> SubmissionView:
    """The submission if the current user may see it; 404 otherwise, so ids of others reveal nothing."""
    user = security.require_user()
    session = read_session()
    found = (queries.submission_status(session, submission_id, current_pace()) if lean
             else queries.submission(session, submission_id, current_pace()))
    if found is None or (not user.is_staff and found.user_id != user.id):
        abort(404)
    return found


@dataclass(frozen=True)
class AssignmentCard:
    """One assignment on the student's overview."""

    assignment: Assignment
    open: bool
    grade: GradeView
    submissions: int


@blueprint.get("/submissions/")
@security.roles_required("student")
def index() -> str:
    """The student's assignments: grade, uploads, and the way to each assignment's page."""
    user = security.require_user()
    session = read_session()
    now = utcnow()
    cards = [AssignmentCard(a, assignments.is_open(a, now), queries.current_grade(session, user.id, a),
                            len(queries.submissions_of(session, user.id, a.id)))
             for a in assignments.list_assignments(session)]
    return render_template("submissions/index.html", cards=cards)


@blueprint.get("/assignments/<slug>/")
@security.roles_required("student")
def assignment(slug: str) -> str:
    """One assignment's page: the upload form, the live status, the grade and the history."""
    return _assignment_page(_assignment(slug), UploadForm())


@blueprint.post("/assignments/<slug>/submissions")
@security.roles_required("student")
def upload(slug: str) -> BaseResponse | tuple[str, int]:
    """Take an upload for the assignment in the URL: 422 with the line and the fix for a file that is not a
    valid models.py, 429 with when to retry when the limits say no, else queue it and show its page."""
    user = security.require_user()
    chosen = _assignment(slug)
    form = UploadForm()
    if not form.validate_on_submit():
        return _assignment_page(chosen, form), 400
    file = form.models_py.data
    data = file.read(_settings().upload_max_bytes + 1)
    problem = _name_problem(file.filename or "")
    checked = problem or check_source(data, _settings().upload_max_bytes)
    if isinstance(checked, SourceProblem):
        return _assignment_page(chosen, form, problem_text(checked)), 422
    session = write_session()
    owner = session.get(User, user.id)
    target = session.get(Assignment, chosen.id)
    if owner is None or target is None:
        abort(404)
    try:
        submission, run = submissions.create_submission(session, owner, target, data, _limits(),
                                                        filename=EXPECTED_NAME)
    except submissions.UploadRejected as rejected:
        session.rollback()
        return _assignment_page(chosen, form, allowance_text(queries.allowance(rejected.decision))), 429
    submission_id, run_id, number = submission.id, run.id, queries.number_of(session, submission)
    session.commit()
    run_queue().publish(run_id, "submission")
    flash(gettext("Submission #%(number)s for %(title)s received and queued for grading.", number=number,
                  title=chosen.title), "success")
    return redirect(url_for("submissions.detail", submission_id=submission_id))


def _assignment(slug: str) -> Assignment:
    found = assignments.get_assignment(read_session(), slug)
    if found is None:
        abort(404)
    return found


def _name_problem(filename: str) -> SourceProblem | None:
    name = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if name.endswith(".py"):
        return None
    why = (message(N_("Upload a Python file named {expected}; {name} is not a .py file."), expected=EXPECTED_NAME,
                   name=name) if name else
           message(N_("Upload a Python file named {expected}; this file is not a .py file."), expected=EXPECTED_NAME))
    return SourceProblem(why.text, None, (why,))


def problem_text(problem: SourceProblem) -> str:
    """Why an upload was refused, in the request's language."""
    if not problem.localizable:
        return problem.message
    return " ".join(render(m) for m in problem.localizable)


def allowance_text(allowance: UploadAllowance) -> str:
    """Why an upload is not allowed now and, when it will be, the time and the wait."""
    text = render(allowance.message)
    if allowance.next_allowed_at is not None:
        seconds = max(0.0, (allowance.next_allowed_at - utcnow()).total_seconds())
        text += " " + gettext("Your next upload is allowed at %(time)s (in %(wait)s).",
                              time=fmt_time(allowance.next_allowed_at), wait=fmt_wait(seconds))
    return text


def _assignment_page(chosen: Assignment, form: UploadForm, problem: str | None = None) -> str:
    user = security.require_user()
    session = read_session()
    if problem is not None:
        form.models_py.errors = [*form.models_py.errors, problem]
    owner = session.get(User, user.id)
    if owner is None:
        abort(404)
    mine = queries.submissions_of(session, user.id, chosen.id, current_pace())
    allowance = queries.upload_allowance(session, owner, chosen, _limits())
    return render_template(
        "submissions/assignment.html", assignment=chosen, form=form, problem=problem, submissions=mine,
        grade=queries.current_grade(session, user.id, chosen),
        allowance=allowance, allowance_text="" if allowance.allowed else allowance_text(allowance),
        history_chart=Markup(history.chart_svg(queries.question_history(session, user.id, chosen))),
        pending=next((s for s in mine if s.pending), None))


@blueprint.get("/submissions/<int:submission_id>")
@security.login_required
def detail(submission_id: int) -> str:
    """A submission's result page (its student and staff only; 404 for anyone else)."""
    submission = visible_submission(submission_id)
    context = pages.result_page(submission, _settings().data_dir)
    user = security.require_user()
    if user.is_staff:
        # The integrity check's evidence: built for staff only, never for the student's own page.
        context["integrity"] = integrity.integrity_view(submission.report,
                                                        flags.flag_reason(read_session(), submission.id))
    if user.role == "instructor":
        context.update(override_forms=override_forms(submission.questions), regrade_form=RegradeForm())
    return render_template("submissions/detail.html", **context)


@blueprint.get("/submissions/<int:submission_id>/status.json")
@security.login_required
def status(submission_id: int) -> Response:
    """The live status as JSON, polled by live.js."""
    submission = visible_submission(submission_id, lean=True)
    response = jsonify(pages.status_payload(submission))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.get("/submissions/<int:submission_id>/models.py")
@security.login_required
def source(submission_id: int) -> Response:
    """The uploaded file as stored."""
    submission = visible_submission(submission_id, lean=True)
    data = queries.source_bytes(read_session(), submission.id)
    if data is None:
        abort(404)
    name = f"{submission.username}-{submission.number}-models.py"
    return Response(data, mimetype="text/x-python", headers={
        "Content-Disposition": f'attachment; filename="{_ascii(name)}"',
        "Cache-Control": "private, no-store",
    })


@blueprint.get("/submissions/<int:submission_id>/charts/<name>.png")
@security.login_required
def chart(submission_id: int, name: str) -> Response:
    """A feedback picture of the submission as PNG."""
    submission = visible_submission(submission_id)
    if submission.report is None or name not in feedback.CHARTS:
        abort(404)
    report = submission.report
    data_dir = _settings().data_dir
    locale = current_locale()
    try:
        png = _chart_png(
            (report.submission_sha256, submission.id, submission.finished_at, submission.regraded_at, name, locale),
            lambda: feedback.render_chart(report, name, data_dir, feedback.chart_words()))
    except feedback.ChartUnavailable:
        abort(404)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
