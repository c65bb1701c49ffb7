"""rejected rows: rows the database refused as data, set aside by the sink

Revision ID: 0004_rejected_rows
Revises: 0003_candidate_metrics
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_rejected_rows"
down_revision = "0003_candidate_metrics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rejected_rows",
        sa.Column("rejection_id", sa.String(64), primary_key=True),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(256)),
        sa.Column("row_key", sa.Text, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("row", sa.JSON, nullable=False),
        sa.Column("rejected_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    )
    op.create_index("ix_rejected_rows_user_id", "rejected_rows", ["user_id"])
    op.create_index("ix_rejected_rows_rejected_at", "rejected_rows", ["rejected_at"])


def downgrade() -> None:
    op.drop_table("rejected_rows")
