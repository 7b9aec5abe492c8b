"""Instructor actions on one submission: regrade, apply a regrade, override a question's points."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gradebook import course as course_settings
from gradebook import overrides
from gradebook import regrade as regrades
from gradebook.models import Submission, User
from nngrade.settings import Settings
from web import security
from web.db import read_session, write_session
from web.i18n import gettext
from web.instructor.forms import ApplyForm, CourseForm, OverrideForm, RegradeForm, override_forms
from web.queue import run_queue
from web.services import pages
from web.services.models import SubmissionView
from web.submissions import queries

blueprint = Blueprint("instructor", __name__)


def _submission(submission_id: int) -> SubmissionView:
    found = queries.submission(read_session(), submission_id)
    if found is None:
        abort(404)
    return found


def _rows(submission_id: int) -> tuple[Submission, User]:
    """The submission and the signed-in instructor, in the request's write session."""
    session = write_session()
    submission = session.get(Submission, submission_id)
    actor = session.get(User, security.require_user().id)
    if submission is None or actor is None:
        abort(404)
    return submission, actor


@blueprint.post("/submissions/<int:submission_id>/regrade")
@security.roles_required("instructor")
def regrade(submission_id: int) -> Response | tuple[str, int]:
    """Queue a regrade of one submission (a one-run change-set applied from the result page)."""
    shown = _submission(submission_id)
    form = RegradeForm()
    if not form.validate_on_submit():
        return _detail(shown, regrade_form=form), 400
    submission, actor = _rows(submission_id)
    run = regrades.regrade_submission(write_session(), submission, actor, form.reason.data.strip())
    run_id = run.id
    write_session().commit()
    run_queue().publish(run_id, "regrade")
    flash(gettext("Submission #%(number)s of %(student)s queued for regrading.", number=shown.number,
                  student=shown.username), "success")
    return redirect(url_for("submissions.detail", submission_id=submission_id))


@blueprint.post("/submissions/<int:submission_id>/regrades/<int:change_set_id>/apply")
@security.roles_required("instructor")
def apply_regrade(submission_id: int, change_set_id: int) -> Response:
    """Make a finished regrade's result the counted one."""
    shown = _submission(submission_id)
    if not ApplyForm().validate_on_submit() or change_set_id not in {r.change_set_id for r in shown.regrades}:
        abort(400)
    _, actor = _rows(submission_id)
    try:
        regrades.apply_change_set(write_session(), change_set_id, actor)
    except regrades.RegradeError:
        # The change-set is this submission's (checked above): what is left is one already decided.
        write_session().rollback()
        flash(gettext("This regrade was already applied or discarded."), "error")
    else:
        write_session().commit()
        flash(gettext("The regrade result now counts."), "success")
    return redirect(url_for("submissions.detail", submission_id=submission_id))


@blueprint.post("/submissions/<int:submission_id>/override/<question>")
@security.roles_required("instructor")
def override(submission_id: int, question: str) -> Response | tuple[str, int]:
    """Set one question's points by hand, with a reason that the student and staff see."""
    shown = _submission(submission_id)
    if question not in shown.questions:
        abort(404)
    forms = override_forms(shown.questions)
    form = forms[question]
    if not form.validate_on_submit():
        return _detail(shown, forms=forms), 400
    points = int(form.points.data)
    submission, actor = _rows(submission_id)
    overrides.add_override(write_session(), submission, question, points, actor, form.reason.data.strip())
    write_session().commit()
    flash(gettext("%(question)s of %(student)s's submission #%(number)s set to %(points)s points.",
                  question=question, student=shown.username, number=shown.number, points=points), "success")
    return redirect(url_for("submissions.detail", submission_id=submission_id))


def _detail(submission: SubmissionView, *, forms: dict[str, OverrideForm] | None = None,
            regrade_form: RegradeForm | None = None) -> str:
    settings: Settings = current_app.extensions["nngrade.settings"]
    return render_template("submissions/detail.html", **pages.result_page(submission, settings.data_dir),
                           override_forms=forms if forms is not None else override_forms(submission.questions),
                           regrade_form=regrade_form or RegradeForm())


@blueprint.route("/course", methods=["GET", "POST"])
@security.roles_required("instructor")
def course() -> Response | tuple[str, int] | str:
    """The course's settings: the language pages use when neither the user nor their browser names one."""
    form = CourseForm()
    if request.method == "GET":
        form.default_locale.data = course_settings.default_locale(read_session())
    elif form.validate_on_submit():
        session = write_session()
        course_settings.set_default_locale(session, form.default_locale.data)
        session.commit()
        flash(gettext("The course's default language is saved."), "success")
        return redirect(url_for("instructor.course"))
    else:
        return render_template("instructor/course.html", form=form), 400
    return render_template("instructor/course.html", form=form)
