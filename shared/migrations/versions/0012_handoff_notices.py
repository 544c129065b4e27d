"""hand-off notices sent to people coming on call, once per person per shift

Revision ID: 0012
Revises: 0011
Create Date: 2027-01-12 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_notices",
        sa.Column("schedule", sa.String(length=64), nullable=False),
        sa.Column("shift_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_uuid", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("schedule", "shift_start", "contact"),
    )


def downgrade() -> None:
    op.drop_table("handoff_notices")
