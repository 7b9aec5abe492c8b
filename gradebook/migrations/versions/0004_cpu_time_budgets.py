"""per-question limits become a CPU-time budget with a wall-clock backstop

Revision ID: 0004
Revises: 0003

An assignment's stored limit `wall_s` was the time limit students were held to. It becomes their CPU-time
budget (`cpu_s`), and `wall_s` the backstop grader.limits.wall_backstop_s derives from it (twice the
budget, at least a minute more), so a loaded machine no longer decides a grade.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen here: a migration must not change when the code it once matched moves on.
BACKSTOP_FACTOR = 2.0
BACKSTOP_MIN_EXTRA_S = 60.0

assignments = sa.table("assignments", sa.column("id", sa.Integer), sa.column("limits", sa.JSON))


def upgrade() -> None:
    connection = op.get_bind()
    for assignment_id, raw in connection.execute(sa.select(assignments.c.id, assignments.c.limits)).all():
        limits: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        changed = False
        for entry in limits.values():
            if isinstance(entry, dict) and "cpu_s" not in entry and isinstance(entry.get("wall_s"), int | float):
                budget = float(entry["wall_s"])
                entry["cpu_s"] = budget
                entry["wall_s"] = max(budget * BACKSTOP_FACTOR, budget + BACKSTOP_MIN_EXTRA_S)
                changed = True
        if changed:
            connection.execute(assignments.update().where(assignments.c.id == assignment_id).values(limits=limits))


def downgrade() -> None:
    connection = op.get_bind()
    for assignment_id, raw in connection.execute(sa.select(assignments.c.id, assignments.c.limits)).all():
        limits: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        for entry in limits.values():
            if isinstance(entry, dict) and "cpu_s" in entry:
                entry["wall_s"] = entry.pop("cpu_s")
        connection.execute(assignments.update().where(assignments.c.id == assignment_id).values(limits=limits))
