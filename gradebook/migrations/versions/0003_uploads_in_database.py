"""uploads stored in the database, moved from the folder store

Revision ID: 0003
Revises: 0002

Every submission's bytes move from the folder store (storage_dir/ab/<sha256>) into submission_files,
each verified against its digest. The folder store is read, never changed. `gradebook.db.migrate` hands
the folder over as the "storage_dir" attribute; when a submission's file cannot be found or does not
match its digest, the migration stops before changing anything and names the files.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    digests = sorted(set(connection.execute(sa.text("SELECT sha256 FROM submissions")).scalars()))
    files = _read_folder_store(digests)
    op.create_table(
        "submission_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_submission_files")),
    )
    table = sa.table(
        "submission_files",
        sa.column("sha256", sa.String), sa.column("size_bytes", sa.Integer),
        sa.column("content", sa.LargeBinary), sa.column("stored_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    for digest, data in files.items():
        connection.execute(table.insert().values(sha256=digest, size_bytes=len(data), content=data, stored_at=now))


def _read_folder_store(digests: list[str]) -> dict[str, bytes]:
    if not digests:
        return {}
    storage_dir = context.config.attributes.get("storage_dir")
    if storage_dir is None:
        raise RuntimeError(
            f"{len(digests)} uploads must move from the folder store into the database: migrate with the "
            "store's directory (NNGRADE_STORAGE_DIR, default var/submissions)"
        )
    found: dict[str, bytes] = {}
    problems: list[str] = []
    for digest in digests:
        path = Path(storage_dir) / digest[:2] / digest
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            problems.append(f"{path}: does not match its SHA-256")
            continue
        found[digest] = data
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise RuntimeError(f"cannot move {len(problems)} of {len(digests)} uploads into the database: {shown}")
    return found


def downgrade() -> None:
    op.drop_table("submission_files")
