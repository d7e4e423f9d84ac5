"""stored Responses API objects, per owner, until they expire

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_responses",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stored_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stored_responses_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stored_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stored_responses_expires_at"))

    op.drop_table("stored_responses")
