"""resolved while held: which message told a person of an alert resolved before their page left

Revision ID: 0013
Revises: 0012
Create Date: 2027-01-14 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_noted_in_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_notifications_resolved_noted_in", "notifications", ["resolved_noted_in_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint("fk_notifications_resolved_noted_in", type_="foreignkey")
        batch_op.drop_column("resolved_noted_in_id")
