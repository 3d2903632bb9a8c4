"""Cards' ride-day totals (乘车日累计): what each card's bus and metro rides of a day cost now

Pricing a day of rides needs, for the monthly cap, what the card's rides of the month's other
days cost; it summed them from every ride of the month. ``acquiring_card_ride_day`` keeps the
sum per card and day with the taps, so that it reads at most a month of rows per card. Filled
here from the taps recorded so far.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acquiring_card_ride_day",
        sa.Column("card_no", sa.String(length=9), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("fare", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "card_no", "business_date", name=op.f("pk_acquiring_card_ride_day")
        ),
        sqlite_with_rowid=False,
    )
    # The rides so far: charged or owed taps at bus and metro merchants, at what they cost now.
    op.execute(
        "INSERT INTO acquiring_card_ride_day (card_no, business_date, fare) "
        "SELECT t.card_no, t.business_date, SUM(t.amount - t.refunded) "
        "FROM acquiring_tap t JOIN acquiring_merchant m ON m.id = t.merchant_id "
        "WHERE t.card_no IS NOT NULL AND t.status IN ('approved', 'debt') "
        "AND m.kind IN ('bus', 'metro') "
        "GROUP BY t.card_no, t.business_date "
        "HAVING SUM(t.amount - t.refunded) <> 0"
    )


def downgrade() -> None:
    op.drop_table("acquiring_card_ride_day")
