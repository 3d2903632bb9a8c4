"""Voucher refunds and campaign close-out; leaner ledger and tap indexes

The ledger indexes its mostly-empty columns only where set (partial indexes) and finds an
account's history through (account, time); a card's rides are summed from a covering index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 16:33:00.366374
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yikatong.core.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher_refund",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "voucher_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("terminal_no", sa.String(length=32), nullable=False),
        sa.Column("refund_ref", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("clawback", sa.BigInteger(), nullable=False),
        sa.Column("resident_refund", sa.BigInteger(), nullable=False),
        sa.Column("order_left", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount > 0 AND clawback >= 0 AND resident_refund >= 0 AND order_left >= 0 AND resident_refund = amount - clawback",
            name=op.f("ck_voucher_refund_refund_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["voucher_campaign.id"],
            name=op.f("fk_voucher_refund_campaign_id_voucher_campaign"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["acquiring_merchant.id"],
            name=op.f("fk_voucher_refund_merchant_id_acquiring_merchant"),
        ),
        sa.ForeignKeyConstraint(
            ["voucher_id"], ["voucher.id"], name=op.f("fk_voucher_refund_voucher_id_voucher")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_refund")),
        sa.UniqueConstraint("merchant_id", "refund_ref", name="uq_voucher_refund_merchant_ref"),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_voucher_refund_transfer_id")),
    )
    with op.batch_alter_table("voucher_refund", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_voucher_refund_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_voucher_refund_voucher_id"), ["voucher_id"], unique=False
        )

    with op.batch_alter_table("acquiring_tap", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acquiring_tap_card_time"))
        batch_op.create_index(
            "ix_acquiring_tap_card_time",
            ["card_no", "tapped_at", "status", "merchant_id", "business_date", "amount"],
            unique=False,
        )

    with op.batch_alter_table("ledger_transfer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_created_at"))
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_credit_account_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_debit_account_id"))
        batch_op.drop_constraint(batch_op.f("uq_ledger_transfer_pending_id"), type_="unique")
        batch_op.create_index(
            "uq_ledger_transfer_pending_id",
            ["pending_id"],
            unique=True,
            sqlite_where=sa.text("pending_id IS NOT NULL"),
            postgresql_where=sa.text("pending_id IS NOT NULL"),
        )
        batch_op.drop_constraint(batch_op.f("uq_ledger_transfer_reverses_id"), type_="unique")
        batch_op.create_index(
            "uq_ledger_transfer_reverses_id",
            ["reverses_id"],
            unique=True,
            sqlite_where=sa.text("reverses_id IS NOT NULL"),
            postgresql_where=sa.text("reverses_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_ledger_transfer_credit_at", ["credit_account_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_transfer_debit_at", ["debit_account_id", "created_at"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_expires_at"))
        batch_op.create_index(
            "ix_ledger_transfer_expires_at",
            ["expires_at"],
            unique=False,
            sqlite_where=sa.text("expires_at IS NOT NULL"),
            postgresql_where=sa.text("expires_at IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_linked_id"))
        batch_op.create_index(
            "ix_ledger_transfer_linked_id",
            ["linked_id"],
            unique=False,
            sqlite_where=sa.text("linked_id IS NOT NULL"),
            postgresql_where=sa.text("linked_id IS NOT NULL"),
        )

    with op.batch_alter_table("voucher", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refunded_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "reinstates_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.drop_constraint(batch_op.f("uq_voucher_weekly"), type_="unique")
        batch_op.create_index(
            "uq_voucher_weekly",
            ["type_id", "resident_id", "week"],
            unique=True,
            sqlite_where=sa.text("state <> 'refunded'"),
            postgresql_where=sa.text("state <> 'refunded'"),
        )
        batch_op.create_unique_constraint(batch_op.f("uq_voucher_reinstates_id"), ["reinstates_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_voucher_reinstates_id_voucher"), "voucher", ["reinstates_id"], ["id"]
        )

    with op.batch_alter_table("voucher_campaign", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("closed_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("closed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("close_transfer_id", sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_voucher_campaign_close_transfer_id"), ["close_transfer_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("voucher_campaign", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_voucher_campaign_close_transfer_id"), type_="unique"
        )
        batch_op.drop_column("close_transfer_id")
        batch_op.drop_column("closed_by")
        batch_op.drop_column("closed_at")

    with op.batch_alter_table("voucher", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_voucher_reinstates_id_voucher"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_voucher_reinstates_id"), type_="unique")
        batch_op.drop_index(
            "uq_voucher_weekly",
            sqlite_where=sa.text("state <> 'refunded'"),
            postgresql_where=sa.text("state <> 'refunded'"),
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_voucher_weekly"), ["type_id", "resident_id", "week"]
        )
        batch_op.drop_column("reinstates_id")
        batch_op.drop_column("refunded_at")

    with op.batch_alter_table("ledger_transfer", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_transfer_linked_id")
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_linked_id"), ["linked_id"], unique=False
        )
        batch_op.drop_index("ix_ledger_transfer_expires_at")
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_expires_at"), ["expires_at"], unique=False
        )
        batch_op.drop_index("ix_ledger_transfer_debit_at")
        batch_op.drop_index("ix_ledger_transfer_credit_at")
        batch_op.drop_index(
            "uq_ledger_transfer_reverses_id",
            sqlite_where=sa.text("reverses_id IS NOT NULL"),
            postgresql_where=sa.text("reverses_id IS NOT NULL"),
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_ledger_transfer_reverses_id"), ["reverses_id"]
        )
        batch_op.drop_index(
            "uq_ledger_transfer_pending_id",
            sqlite_where=sa.text("pending_id IS NOT NULL"),
            postgresql_where=sa.text("pending_id IS NOT NULL"),
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_ledger_transfer_pending_id"), ["pending_id"]
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_debit_account_id"), ["debit_account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_credit_account_id"), ["credit_account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_created_at"), ["created_at"], unique=False
        )

    with op.batch_alter_table("acquiring_tap", schema=None) as batch_op:
        batch_op.drop_index("ix_acquiring_tap_card_time")
        batch_op.create_index(
            batch_op.f("ix_acquiring_tap_card_time"), ["card_no", "tapped_at"], unique=False
        )

    with op.batch_alter_table("voucher_refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voucher_refund_voucher_id"))
        batch_op.drop_index(batch_op.f("ix_voucher_refund_campaign_id"))

    op.drop_table("voucher_refund")
