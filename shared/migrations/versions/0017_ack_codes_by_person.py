"""ack codes by person: an index on (destination, retired_at)

Every page reads its person's active codes and those retired within a day;
without this index that read scanned every code ever made, so a page grew
slower with each alert the database kept.

Revision ID: 0017
Revises: 0016
Create Date: 2027-02-10 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_ack_codes_destination_retired_at", "ack_codes", ["destination", "retired_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_ack_codes_destination_retired_at", table_name="ack_codes")
