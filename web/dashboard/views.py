"""The staff dashboard: students of one assignment (named by ?assignment=slug), charts, queue health, export."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, abort, jsonify, render_template, request
from markupsafe import Markup
from sqlalchemy import select

from gradebook import assignments, flags
from gradebook.export import export_csv
from gradebook.models import Assignment, utcnow
from grader.questions import get_question
from web import charts, security
from web.dashboard import queries
from web.db import read_session
from web.i18n import current_locale, fmt_duration, fmt_wait, gettext
from web.services import dashboard, history
from web.services.feedback import chart_words, png_cache
from web.services.models import QueueHealth
from web.services.pages import outcome_label
from web.submissions import queries as submission_queries
from web.submissions.views import current_pace

blueprint = Blueprint("dashboard", __name__)
_chart_png = png_cache(max_bytes=4 * 2**20)

CHART_NAMES = ("scores", "losses", "accuracies", "runtimes", "failures")


def chosen_assignment() -> Assignment:
    """The assignment named by ?assignment=slug; without one, the next due (else the latest), as the page
    shows. 404 for an unknown slug or when no assignment exists."""
    session = read_session()
    slug = request.args.get("assignment")
    if slug:
        found = assignments.get_assignment(session, slug)
    else:
        found = session.scalar(select(Assignment).where(Assignment.due_at >= utcnow())
                               .order_by(Assignment.due_at).limit(1)) \
            or session.scalar(select(Assignment).order_by(Assignment.due_at.desc()).limit(1))
    if found is None:
        abort(404, description=gettext("No such assignment."))
    return found


@blueprint.get("/")
@security.roles_required("ta", "instructor")
def index() -> str:
    """Students of the assignment, searched, filtered, sorted and paged on the server; tiles, queue health with
    the estimated start of queued work, charts, overrides."""
    session = read_session()
    assignment = chosen_assignment()
    filters = dashboard.Filters.parse(request.args.get("q"), request.args.get("status"),
                                      request.args.get("sort"), request.args.get("order"),
                                      request.args.get("page"), request.args.get("per_page"))
    # Tiles and totals count every student; the search (in SQL) narrows the table only.
    everyone = queries.student_rows(session, assignment)
    rows = everyone
    if filters.query:
        found = queries.matching_students(session, filters.query)
        rows = [r for r in everyone if r.user.id in found]
    return render_template(
        "dashboard/index.html",
        assignment=assignment,
        assignments=assignments.list_assignments(session),
        page=dashboard.paginate(rows, filters),
        filters=filters,
        summary=dashboard.summary(everyone),
        tiles=dashboard.tiles(everyone),
        queue=queries.queue_health(session, submission_queries.grading_capacity(session)[0], current_pace()),
        overrides=queries.overrides(session),
        chart_names=CHART_NAMES,
        chart_version=len(everyone) and sum(r.submissions for r in everyone),
        sort_keys=dashboard.SORT_KEYS,
        status_filters=dashboard.STATUS_FILTERS,
        page_sizes=dashboard.PAGE_SIZES,
    )


@blueprint.get("/students/<int:user_id>")
@security.roles_required("ta", "instructor")
def student(user_id: int) -> str:
    """One student's grade and submissions for the assignment."""
    session = read_session()
    user = queries.student(session, user_id)
    if user is None:
        abort(404)
    assignment = chosen_assignment()
    mine = submission_queries.submissions_of(session, user_id, assignment.id, current_pace())
    return render_template(
        "dashboard/student.html", student=user, assignment=assignment, submissions=mine,
        flagged=flags.flagged_among(session, [s.id for s in mine]),
        grade=submission_queries.current_grade(session, user_id, assignment),
        history_chart=Markup(history.chart_svg(submission_queries.question_history(session, user_id, assignment))),
    )


@blueprint.get("/queue.json")
@security.roles_required("ta", "instructor")
def queue() -> Response:
    """Queue health as JSON, for the dashboard's live panel."""
    session = read_session()
    health = queries.queue_health(session, submission_queries.grading_capacity(session)[0], current_pace())
    payload = asdict(health)
    payload["checked_at"] = health.checked_at.isoformat(timespec="seconds")
    payload["texts"] = queue_texts(health)
    return jsonify(payload)


def queue_texts(health: QueueHealth) -> dict[str, str]:
    """The queue panel's values as the page shows them, in the request's language (live.js writes these)."""
    return {
        "depth": str(health.depth), "running": str(health.running),
        "workers": str(health.workers) if health.workers is not None else gettext("unknown"),
        "oldest_wait_s": fmt_duration(health.oldest_wait_s), "median_wait_s": fmt_duration(health.median_wait_s),
        "next_start_s": fmt_wait(health.next_start_s), "last_start_s": fmt_wait(health.last_start_s),
        "typical_run_s": fmt_duration(health.typical_run_s),
    }


@blueprint.get("/charts/<name>.png")
@security.roles_required("ta", "instructor")
def chart(name: str) -> Response:
    """One distribution chart of the assignment as PNG (scores, losses, accuracies, times, failures)."""
    if name not in CHART_NAMES:
        abort(404)
    session = read_session()
    assignment = chosen_assignment()
    rows = queries.student_rows(session, assignment)
    runs = queries.graded_runs(session, assignment, dashboard.RECENT_FOR_CHARTS)
    locale = current_locale()
    key = (name, assignment.id, len(runs), runs[0].run_id if runs else 0, tuple(r.points for r in rows), locale)
    words = chart_words()

    def render() -> bytes:
        d = dashboard.distributions(rows, runs)
        if name == "scores":
            return charts.histogram_png(d.scores, title=gettext("Current scores"), xlabel=gettext("points"),
                                        bins=13, per_student=True, words=words)
        if name == "losses":
            return charts.histogram_png(d.q1_losses, title=gettext("q1 loss per graded submission"),
                                        xlabel=gettext("q1 training loss (SquareLoss on the 200 points; no unit)"),
                                        threshold=get_question("q1").threshold, words=words)
        if name == "accuracies":
            return charts.histogram_png([a * 100 for a in d.q2_accuracies],
                                        title=gettext("q2 test accuracy per graded submission"),
                                        xlabel=gettext("accuracy (%)"),
                                        threshold=get_question("q2").threshold * 100, words=words)
        if name == "runtimes":
            return charts.histogram_png(d.run_times_s, title=gettext("Grading time per submission"),
                                        xlabel=gettext("seconds"), words=words)
        reasons = {f"{question}: {outcome_label(outcome)}": n for (question, outcome), n in d.failure_reasons.items()}
        return charts.bar_png(reasons, title=gettext("Failure reasons (questions not passed)"), words=words)

    png = _chart_png(key, render)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=30"})


@blueprint.get("/export.csv")
@security.roles_required("ta", "instructor")
def export() -> Response:
    """The assignment's grades as CSV for the LMS: graded students only, cells spreadsheet-safe."""
    assignment = chosen_assignment()
    return Response(export_csv(read_session(), assignment), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="nngrade-{_safe_name(assignment.slug)}-grades.csv"',
        "Cache-Control": "private, no-store",
    })


@blueprint.get("/audit")
@security.roles_required("ta", "instructor")
def audit() -> str:
    """Overrides and regrades, newest first."""
    session = read_session()
    return render_template("dashboard/audit.html", overrides=queries.overrides(session),
                           entries=queries.audit_log(session, 500))


def _safe_name(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in text)
