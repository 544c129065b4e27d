"""call charges: each page call's Duration, BillDuration and TotalCost from Plivo's hang-up

Revision ID: 0014
Revises: 0013
Create Date: 2027-01-20 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("call_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("billed_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("call_cost", sa.Numeric(12, 5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("call_cost")
        batch_op.drop_column("billed_seconds")
        batch_op.drop_column("call_seconds")
