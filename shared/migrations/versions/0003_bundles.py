"""bundles: several alerts in one message or call

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:53:34.404152
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ack_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.drop_constraint("uq_ack_code_alert", type_="unique")
    backfill = "'[' || CAST(alert_id AS VARCHAR) || ']'"
    if op.get_bind().dialect.name == "postgresql":
        backfill = f"CAST({backfill} AS JSON)"
    op.execute(f"UPDATE ack_codes SET alert_ids = {backfill}")

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bundle_lead_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_notifications_bundle_lead_id"), ["bundle_lead_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_notifications_bundle_lead", "notifications", ["bundle_lead_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint("fk_notifications_bundle_lead", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_notifications_bundle_lead_id"))
        batch_op.drop_column("bundle_lead_id")

    with op.batch_alter_table("ack_codes", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_ack_code_alert", ["destination", "alert_id"])
        batch_op.drop_column("alert_ids")
