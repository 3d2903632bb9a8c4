"""Fare adjustments (补退): rides re-priced lower once an earlier ride of the card came in

A tap records what has been refunded of it since (``acquiring_tap.refunded``, also in the card's
ride index so that pricing still sums a month from the index alone); each adjustment is a row of
``acquiring_fare_adjustment`` with its refund transfer; clearing runs net the refunds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 17:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CARD_TIME = ("card_no", "tapped_at", "status", "merchant_id", "business_date", "amount")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("acquiring_tap", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refunded", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.drop_index("ix_acquiring_tap_card_time")
        batch_op.create_index("ix_acquiring_tap_card_time", [*_CARD_TIME, "refunded"])
    with op.batch_alter_table("acquiring_clearing_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("adjustments", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("adjusted_amount", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_table(
        "acquiring_fare_adjustment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tap_id", _ID, nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("card_no", sa.String(length=9), nullable=False),
        sa.Column("fare_before", sa.BigInteger(), nullable=False),
        sa.Column("fare_after", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("cause_tap_id", sa.BigInteger(), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("adjusted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("adjustment_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["acquiring_merchant.id"],
            name=op.f("fk_acquiring_fare_adjustment_merchant_id_acquiring_merchant"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["acquiring_clearing_run.id"],
            name=op.f("fk_acquiring_fare_adjustment_run_id_acquiring_clearing_run"),
        ),
        sa.ForeignKeyConstraint(
            ["tap_id"],
            ["acquiring_tap.id"],
            name=op.f("fk_acquiring_fare_adjustment_tap_id_acquiring_tap"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acquiring_fare_adjustment")),
    )
    with op.batch_alter_table("acquiring_fare_adjustment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_acquiring_fare_adjustment_merchant_date", ["merchant_id", "adjustment_date"]
        )
        batch_op.create_index(batch_op.f("ix_acquiring_fare_adjustment_tap_id"), ["tap_id"])


def downgrade() -> None:
    op.drop_table("acquiring_fare_adjustment")
    with op.batch_alter_table("acquiring_clearing_run", schema=None) as batch_op:
        batch_op.drop_column("adjusted_amount")
        batch_op.drop_column("adjustments")
    with op.batch_alter_table("acquiring_tap", schema=None) as batch_op:
        batch_op.drop_index("ix_acquiring_tap_card_time")
        batch_op.create_index("ix_acquiring_tap_card_time", list(_CARD_TIME))
        batch_op.drop_column("refunded")
