"""when the tick last handed an alert's due escalation step to the workers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-15 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable with no default: a step of an alert already stored counts as never
    # handed over, so the first tick after the upgrade hands it over once.
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("step_enqueued_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("step_enqueued_at")
