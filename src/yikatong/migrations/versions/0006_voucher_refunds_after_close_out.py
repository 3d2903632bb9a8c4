"""Voucher refunds after a campaign's close-out: where each clawed-back discount went

A refund's clawback goes to the campaign budget while the campaign runs and to the fiscal account
once it is closed; ``voucher_refund.clawback_to`` records which. Every clawback before this
revision went to the budget.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 19:47:33.874238
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLAWBACK_TO = sa.Enum("budget", "fiscal", name="clawbackto", native_enum=False, length=24)


def upgrade() -> None:
    with op.batch_alter_table("voucher_refund", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clawback_to", _CLAWBACK_TO, nullable=True))
    op.execute("UPDATE voucher_refund SET clawback_to = 'budget' WHERE clawback > 0")
    with op.batch_alter_table("voucher_refund", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_voucher_refund_refund_clawback_to"),
            "(clawback = 0 AND clawback_to IS NULL) OR (clawback > 0 AND clawback_to IS NOT NULL)",
        )


def downgrade() -> None:
    with op.batch_alter_table("voucher_refund", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_voucher_refund_refund_clawback_to"), type_="check")
        batch_op.drop_column("clawback_to")
