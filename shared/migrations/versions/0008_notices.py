"""notices: notices known to beat, their sends, and one delivery row per recipient

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "notice_sends",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("notice", sa.String(length=64), nullable=False),
        sa.Column("occurrence_key", sa.String(length=32), nullable=False),
        sa.Column("reminder_key", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["notice"], ["notices.name"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_notice_sends_notice_due_at", "notice_sends", ["notice", "due_at"], unique=False
    )
    op.create_index(
        "ix_notice_sends_state_updated_at", "notice_sends", ["state", "updated_at"], unique=False
    )
    op.create_table(
        "notice_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=True),
        sa.Column("sender", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("skip_reason", sa.String(length=16), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("provider_uuid", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("batch_id", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["send_id"], ["notice_sends.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("send_id", "channel", "number", name="uq_notice_delivery"),
        sa.UniqueConstraint("provider_uuid"),
    )
    op.create_index(
        "ix_notice_deliveries_send_state", "notice_deliveries", ["send_id", "state"], unique=False
    )
    op.create_index(
        op.f("ix_notice_deliveries_batch_id"), "notice_deliveries", ["batch_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notice_deliveries_batch_id"), table_name="notice_deliveries")
    op.drop_index("ix_notice_deliveries_send_state", table_name="notice_deliveries")
    op.drop_table("notice_deliveries")
    op.drop_index("ix_notice_sends_state_updated_at", table_name="notice_sends")
    op.drop_index("ix_notice_sends_notice_due_at", table_name="notice_sends")
    op.drop_table("notice_sends")
    op.drop_table("notices")
