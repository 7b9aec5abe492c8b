"""Grade export for an LMS import: one row per graded student (no staff, no canary) under the assignment's
policy, every cell safe to open in a spreadsheet."""

from __future__ import annotations

import io

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from gradebook.csvcells import write_dicts
from gradebook.models import Assignment, GradingRun, Submission, User
from gradebook.policies import final_submission
from gradebook.users import graded_students
from grader.questions import get_question

# What Excel needs to read a CSV's letters right without asking: UTF-8 behind a byte-order mark.
EXCEL_ENCODING = "utf-8-sig"
POLICY_NOTE = {"best": "best submission", "latest": "latest graded submission"}


def export_rows(session: Session, assignment: Assignment) -> list[dict[str, str]]:
    """One dict per graded student, by username: points per question, total, lateness, time, policy.

    A student without a graded submission scores 0 of the assignment's maximum; what only a submission has
    (whether it was late, its penalty, its time) is an empty cell, the same in every such column.
    """
    max_total = str(sum(get_question(q).max_points for q in assignment.questions))
    students = session.scalars(select(User).where(graded_students()).order_by(User.username)).all()
    submissions = session.scalars(
        select(Submission)
        .where(Submission.assignment_id == assignment.id)
        .options(selectinload(Submission.runs).selectinload(GradingRun.questions),
                 selectinload(Submission.overrides))
    ).all()
    by_user: dict[int, list[Submission]] = {}
    for s in submissions:
        by_user.setdefault(s.user_id, []).append(s)
    rows: list[dict[str, str]] = []
    for student in students:
        chosen = final_submission(assignment, by_user.get(student.id, []))
        row = {"student_id": student.username, "name": student.name}
        for q in assignment.questions:
            row[q] = _fmt(chosen.points.get(q, 0.0)) if chosen else "0"
        row["total"] = _fmt(chosen.total) if chosen else "0"
        row["max_total"] = str(chosen.max_points) if chosen else max_total
        if chosen is None:
            row.update(late="", late_penalty_pct="", submitted_at="")
        else:
            row["late"] = "yes" if chosen.submission.late else "no"
            row["late_penalty_pct"] = _fmt(assignment.late_penalty_pct) if chosen.submission.late else "0"
            row["submitted_at"] = chosen.submission.uploaded_at.isoformat(timespec="seconds")
        row["policy"] = POLICY_NOTE.get(assignment.score_policy, assignment.score_policy)
        rows.append(row)
    return rows


def export_csv(session: Session, assignment: Assignment, *, excel: bool = False) -> str:
    """`export_rows` as CSV text with a header line; cells that a spreadsheet would evaluate are neutralised.

    `excel`: the form a Spanish (or any decimal-comma) Excel opens as columns: semicolons between cells and
    decimal commas in the points. Encode it as UTF-8 with a byte-order mark (EXCEL_ENCODING), or Excel guesses
    the letters wrong.
    """
    columns = ["student_id", "name", *assignment.questions, "total", "max_total", "late", "late_penalty_pct",
               "submitted_at", "policy"]
    rows = export_rows(session, assignment)
    if excel:
        numeric = {*assignment.questions, "total", "max_total", "late_penalty_pct"}
        rows = [{k: v.replace(".", ",") if k in numeric else v for k, v in row.items()} for row in rows]
    out = io.StringIO()
    write_dicts(out, columns, rows, delimiter=";" if excel else ",")
    return out.getvalue()


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
