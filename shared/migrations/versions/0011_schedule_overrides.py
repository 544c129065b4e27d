"""overrides of on-call schedules, made by CLI and API

Revision ID: 0011
Revises: 0010
Create Date: 2027-01-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.String(length=64), nullable=False),
        sa.Column("covering", sa.String(length=200), nullable=False),
        sa.Column("replaces", sa.String(length=200), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_schedule_overrides_schedule_end",
        "schedule_overrides",
        ["schedule", "end_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_schedule_overrides_schedule_end", table_name="schedule_overrides")
    op.drop_table("schedule_overrides")
