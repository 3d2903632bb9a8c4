"""Payment lines: leaner indexes

A month's pension batch writes millions of lines. Their unique key (one line per person, month
and attempt) now leads with the resident, so it also finds a person's lines and the separate
resident index goes; the few re-queued lines alone are indexed for their at-most-once link.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:14:08.282778
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("benefit_payment_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_benefit_payment_line_resident_id"))
        batch_op.drop_constraint(batch_op.f("uq_benefit_payment_line_programme_id"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("uq_benefit_payment_line_requeued_from_id"), type_="unique"
        )
        batch_op.create_index(
            "uq_benefit_payment_line_requeued_from_id",
            ["requeued_from_id"],
            unique=True,
            sqlite_where=sa.text("requeued_from_id IS NOT NULL"),
            postgresql_where=sa.text("requeued_from_id IS NOT NULL"),
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_benefit_payment_line_resident_id"),
            ["resident_id", "programme_id", "period", "attempt"],
        )


def downgrade() -> None:
    with op.batch_alter_table("benefit_payment_line", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_benefit_payment_line_resident_id"), type_="unique")
        batch_op.drop_index(
            "uq_benefit_payment_line_requeued_from_id",
            sqlite_where=sa.text("requeued_from_id IS NOT NULL"),
            postgresql_where=sa.text("requeued_from_id IS NOT NULL"),
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_benefit_payment_line_requeued_from_id"), ["requeued_from_id"]
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_benefit_payment_line_programme_id"),
            ["programme_id", "resident_id", "period", "attempt"],
        )
        batch_op.create_index(
            batch_op.f("ix_benefit_payment_line_resident_id"), ["resident_id"], unique=False
        )
