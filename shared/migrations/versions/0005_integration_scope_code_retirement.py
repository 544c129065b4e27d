"""integration scope of dedup keys; retirement time of reply codes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNRESOLVED = sa.text("status != 'resolved'")


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("integration", sa.String(length=32), nullable=False, server_default="api")
        )
        batch_op.drop_index(
            "uq_alerts_unresolved_dedup_key", sqlite_where=UNRESOLVED, postgresql_where=UNRESOLVED
        )
        batch_op.create_index(
            "uq_alerts_unresolved_dedup_key",
            ["integration", "dedup_key"],
            unique=True,
            sqlite_where=UNRESOLVED,
            postgresql_where=UNRESOLVED,
        )

    with op.batch_alter_table("ack_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ack_codes", schema=None) as batch_op:
        batch_op.drop_column("retired_at")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_alerts_unresolved_dedup_key", sqlite_where=UNRESOLVED, postgresql_where=UNRESOLVED
        )
        batch_op.create_index(
            "uq_alerts_unresolved_dedup_key",
            ["dedup_key"],
            unique=True,
            sqlite_where=UNRESOLVED,
            postgresql_where=UNRESOLVED,
        )
        batch_op.drop_column("integration")
