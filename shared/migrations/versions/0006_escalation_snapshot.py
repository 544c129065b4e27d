"""escalation snapshot: the chain an alert follows, frozen when its escalation starts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable with no default: alerts already open keep following the on-call file.
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalation_snapshot", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("escalation_snapshot")
