"""model_versions: every churn candidate's window metrics, which one serves, the BG/NBD fit

Revision ID: 0003_candidate_metrics
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_candidate_metrics"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:  # batch: SQLite too
        batch.add_column(sa.Column("serving", sa.String(32)))
        batch.add_column(sa.Column("candidates", sa.JSON))
        batch.add_column(sa.Column("priors", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        for column in ("priors", "candidates", "serving"):
            batch.drop_column(column)
