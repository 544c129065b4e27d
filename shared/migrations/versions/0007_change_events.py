"""change events: deploys and configuration changes shown with alerts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("service", sa.String(length=255), nullable=True),
        sa.Column("source_key", sa.Text(), nullable=True),
        sa.Column("service_key", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_change_events_scope_changed_at",
        "change_events",
        ["scope", "changed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_change_events_scope_changed_at", table_name="change_events")
    op.drop_table("change_events")
