"""user_profiles: the current profile of every user

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_profiles",
        sa.Column("user_id", sa.String(256), primary_key=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("purchases", sa.Integer, nullable=False),
        sa.Column("revenue", sa.Float, nullable=False),
        sa.Column("sessions", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cart_adds", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cart_abandons", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_purchase", sa.DateTime(timezone=True)),
        sa.Column("top_categories", sa.JSON),
        sa.Column("churn_risk", sa.Float),
        sa.Column("lifecycle", sa.String(32)),
        sa.Column("value_segment", sa.String(32)),
        sa.Column("interest_segment", sa.String(128)),
        sa.Column("source_offset", sa.BigInteger, nullable=False, server_default="-1"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("ix_user_profiles_last_seen", "user_profiles", ["last_seen"])


def downgrade() -> None:
    op.drop_table("user_profiles")
