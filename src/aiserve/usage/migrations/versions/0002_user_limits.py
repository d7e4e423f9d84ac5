"""limits on users, the defaults for their keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = ("requests_per_minute", "tokens_per_minute", "max_concurrent", "monthly_requests", "monthly_tokens")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        for name in _COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
