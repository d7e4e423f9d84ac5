"""movable aliases in the database, shared by every replica

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_aliases",
        sa.Column("alias", sa.String(length=256), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("alias"),
    )


def downgrade() -> None:
    op.drop_table("model_aliases")
