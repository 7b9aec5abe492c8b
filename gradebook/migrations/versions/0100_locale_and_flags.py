"""languages: the user's choice and the course default; a flag an integrity check sets on a submission

Revision ID: 0100
Revises: 0004

Numbered 0100 so that it sorts after the 00xx series: when more migrations of another branch land first,
this revision's down_revision becomes the last of them and nothing else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0100"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=16), nullable=True))
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flag_reason", sa.Text(), nullable=True))
    op.create_table(
        "course_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("default_locale", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_settings")),
    )


def downgrade() -> None:
    op.drop_table("course_settings")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("flag_reason")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("locale")
