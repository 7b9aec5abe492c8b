"""change-sets: whether a regrade was applied automatically because it changed no score

Revision ID: 0101
Revises: 0100
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101"
down_revision = "0100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("change_sets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auto_applied", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("change_sets", schema=None) as batch_op:
        batch_op.drop_column("auto_applied")
