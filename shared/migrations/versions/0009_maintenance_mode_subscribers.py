"""maintenance mode on alerts, opt-outs of notices only, subscriber lists managed by CLI/API

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable with no default: alerts already stored were never held or downgraded.
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("maintenance", sa.JSON(), nullable=True))
        batch_op.create_index("ix_alerts_held_until", ["held_until"], unique=False)
    op.create_table(
        "notice_opt_outs",
        sa.Column("destination", sa.String(length=32), nullable=False),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("destination"),
    )
    op.create_table(
        "subscriber_lists",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "subscriber_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_name", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_name"], ["subscriber_lists.name"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("list_name", "number", name="uq_subscriber_number"),
    )


def downgrade() -> None:
    op.drop_table("subscriber_numbers")
    op.drop_table("subscriber_lists")
    op.drop_table("notice_opt_outs")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_held_until")
        batch_op.drop_column("maintenance")
        batch_op.drop_column("held_until")
