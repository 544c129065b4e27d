"""escalation, ack codes, opt-outs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 12:29:32.780079
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _create_opt_outs()
    _create_ack_codes()
    _add_alert_escalation_columns()
    _add_notification_plan_columns()


def _create_opt_outs() -> None:
    op.create_table(
        "opt_outs",
        sa.Column("destination", sa.String(length=32), nullable=False),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("destination"),
    )


def _create_ack_codes() -> None:
    op.create_table(
        "ack_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=32), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("destination", "alert_id", name="uq_ack_code_alert"),
    )
    with op.batch_alter_table("ack_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ack_codes_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(
            "uq_ack_codes_active",
            ["destination", "code"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )


def _add_alert_escalation_columns() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("esc_step", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("esc_round", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("escalation", sa.String(length=16), nullable=False, server_default="pending")
        )
        batch_op.create_index(batch_op.f("ix_alerts_next_fire_at"), ["next_fire_at"], unique=False)


def _add_notification_plan_columns() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("contact", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column(
                "due_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )
        batch_op.add_column(sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=32), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_notification_plan"), type_="unique")
        batch_op.create_unique_constraint(
            "uq_notification_plan",
            ["alert_id", "step", "round", "attempt", "channel", "destination"],
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint("uq_notification_plan", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_notification_plan"),
            ["alert_id", "step", "round", "channel", "destination"],
        )
        batch_op.drop_column("outcome")
        batch_op.drop_column("enqueued_at")
        batch_op.drop_column("due_at")
        batch_op.drop_column("contact")
        batch_op.drop_column("attempt")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_next_fire_at"))
        batch_op.drop_column("escalation")
        batch_op.drop_column("next_fire_at")
        batch_op.drop_column("esc_round")
        batch_op.drop_column("esc_step")
        batch_op.drop_column("policy")

    with op.batch_alter_table("ack_codes", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_ack_codes_active",
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )
        batch_op.drop_index(batch_op.f("ix_ack_codes_alert_id"))

    op.drop_table("ack_codes")
    op.drop_table("opt_outs")
