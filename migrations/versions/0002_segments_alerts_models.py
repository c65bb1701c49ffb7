"""segments, win-back alerts and outcomes, model versions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "segment_memberships",
        sa.Column("user_id", sa.String(256), primary_key=True),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("segment", sa.String(128)),
        sa.Column("since", TS, nullable=False),
        sa.Column("change_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_segment_memberships_segment", "segment_memberships",
                    ["dimension", "segment"])
    op.create_table(
        "segment_transitions",
        sa.Column("change_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(256), nullable=False, index=True),
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("from_segment", sa.String(128)),
        sa.Column("to_segment", sa.String(128)),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("reason", sa.String(64), nullable=False),
    )
    op.create_table(
        "churn_alerts",
        sa.Column("alert_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(256), nullable=False, index=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("churn_risk", sa.Float, nullable=False),
        sa.Column("p_alive", sa.Float, nullable=False),
        sa.Column("lifecycle", sa.String(32)),
        sa.Column("value_segment", sa.String(32)),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("offer", sa.JSON, nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("control", sa.Boolean, nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "winback_outcomes",
        sa.Column("alert_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("revenue", sa.Float, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("control", sa.Boolean, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("examples", sa.Integer, nullable=False),
        sa.Column("roc_auc", sa.Float),
        sa.Column("log_loss", sa.Float),
        sa.Column("base_rate", sa.Float),
        sa.Column("drifts", sa.Integer, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("model_versions", "winback_outcomes", "churn_alerts", "segment_transitions",
                  "segment_memberships"):
        op.drop_table(table)
