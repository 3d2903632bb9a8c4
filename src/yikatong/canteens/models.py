"""Tables of elderly canteens (老年餐桌/长者食堂): canteens, district budgets, struggling status
records, each resident's subsidy granted per day, and the meals served.

A canteen is an acquiring merchant (kind ``canteen``) with a district; its tills are acquiring
terminals. Money never lives here: a meal keeps the ids of its ledger transfers (the card's part
is the acquiring tap's transfer; the subsidy is a transfer budget → merchant).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class MealStatus(enum.StrEnum):
    APPROVED = "approved"  # served: the card paid its part, the subsidy was granted
    DECLINED = "declined"  # refused at the till; nothing charged, nothing granted
    REVERSED = "reversed"  # served, then undone: money and entitlement returned


class Canteen(Base):
    """An elderly canteen (老年餐桌) in a district, acquiring merchant of kind ``canteen``."""

    __tablename__ = "canteen"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("acquiring_merchant.id"), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class CanteenBudget(Base):
    """A district's meal-subsidy budget: its ledger account (kind ``subsidy_budget``).

    The row is also the lock that serialises subsidy decisions of the district, so that the
    balance read before granting is still there when the grant is posted.
    """

    __tablename__ = "canteen_budget"

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6), unique=True)
    account_id: Mapped[int] = mapped_column(_BIG_ID)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class StrugglingStatus(Base):
    """Staff record that a resident is struggling (经济困难: 低保、特困、低收入), valid over a
    period; the struggling subsidy category reads it. Revoked records are kept."""

    __tablename__ = "canteen_struggling"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64))  # certificate or decision number
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoke_reason: Mapped[str | None] = mapped_column(String(200))


class DailyGrant(Base):
    """The subsidy granted to a resident on one local day, over all canteens.

    Locked (``FOR UPDATE``) by every meal of that resident and day, so two tills serving the same
    person at once cannot both grant the day's entitlement.
    """

    __tablename__ = "canteen_daily_grant"

    resident_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    granted: Mapped[int] = mapped_column(BigInteger, default=0)
    meals: Mapped[int] = mapped_column(Integer, default=0)


class Meal(Base):
    """A meal paid at a canteen till: price, subsidy granted and the resident's part."""

    __tablename__ = "canteen_meal"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    tap_id: Mapped[int] = mapped_column(ForeignKey("acquiring_tap.id"), unique=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteen.id"))
    district_code: Mapped[str] = mapped_column(String(6))
    resident_id: Mapped[int | None] = mapped_column(Integer)
    card_no: Mapped[str | None] = mapped_column(String(9))
    served_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    business_date: Mapped[dt.date] = mapped_column(Date)  # local (UTC+8) date
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM of business_date, for reports
    price: Mapped[int] = mapped_column(BigInteger)
    subsidy: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger)  # charged to the card
    category: Mapped[str | None] = mapped_column(String(32))
    entitlement: Mapped[int] = mapped_column(BigInteger)  # the day's entitlement at this canteen
    status: Mapped[MealStatus] = mapped_column(_enum(MealStatus))
    reason: Mapped[str] = mapped_column(String(32))
    subsidy_transfer_id: Mapped[int | None] = mapped_column(BigInteger)
    reversed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reversal_reason: Mapped[str | None] = mapped_column(String(200))
    reversed_by: Mapped[str | None] = mapped_column(String(64))
    subsidy_reversal_transfer_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_canteen_meal_resident_time", "resident_id", "served_at"),
        Index("ix_canteen_meal_month", "month", "canteen_id"),
        UniqueConstraint("subsidy_transfer_id", name="uq_canteen_meal_subsidy_transfer"),
    )
