"""Tables of consumer vouchers (消费券): campaigns, voucher types, daily releases, vouchers.

A release is one day's quota of one type. ``claimed ≤ quota + returned`` is kept by a
conditional update, and ``(type, resident, week)`` is unique, so neither the quota nor the weekly
limit can be exceeded by concurrent claims. Money never lives here: a redeemed voucher keeps the
id of the ledger transfer campaign budget → merchant, a refund the id of the claw-back transfer
merchant → campaign budget (merchant → fiscal account once the campaign is closed), and a closed
campaign the id of the transfer returning its unspent budget to the city.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class VoucherState(enum.StrEnum):
    CLAIMED = "claimed"  # held by the resident, usable until it expires
    REDEEMED = "redeemed"  # used at a merchant: the discount was paid from the budget
    EXPIRED = "expired"  # not used within its validity; reclaimed, its slot released again
    REFUNDED = "refunded"  # its order was returned below the threshold: the discount clawed back


class ClawbackTo(enum.StrEnum):
    """Where a discount clawed back by a refund went."""

    BUDGET = "budget"  # the campaign runs: back to its budget (reversal of the redemption)
    FISCAL = "fiscal"  # after the close-out: to the fiscal account the budget was returned to


class VoucherCampaign(Base):
    """A voucher campaign (消费券活动) with its budget ledger account."""

    __tablename__ = "voucher_campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    release_time: Mapped[dt.time] = mapped_column(Time)  # local (Beijing) time of day
    valid_hours: Mapped[int] = mapped_column(Integer)
    redeem_from: Mapped[dt.time] = mapped_column(Time)  # local redemption hours
    redeem_until: Mapped[dt.time] = mapped_column(Time)
    budget: Mapped[int] = mapped_column(BigInteger)  # fen funded at creation
    budget_account_id: Mapped[int] = mapped_column(_BIG_ID)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    # close-out (活动结算): set once; the unspent budget went back to the city by close_transfer_id
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    close_transfer_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)


class VoucherType(Base):
    """One kind of voucher of a campaign: spend ``threshold``, get ``discount`` off (满减)."""

    __tablename__ = "voucher_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("voucher_campaign.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))  # e.g. "8000-600"
    threshold: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    daily_quota: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("campaign_id", "code", name="uq_voucher_type_campaign_code"),
        CheckConstraint("discount > 0 AND discount < threshold", name="discount_below_threshold"),
    )


class VoucherMerchant(Base):
    """A merchant (acquiring) taking part in a campaign (参与商户)."""

    __tablename__ = "voucher_merchant"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("voucher_campaign.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("acquiring_merchant.id"))

    __table_args__ = (
        UniqueConstraint("campaign_id", "merchant_id", name="uq_voucher_merchant_campaign"),
    )


class VoucherRelease(Base):
    """One day's release of one type (每日10点发放): open from ``opens_at`` to ``closes_at``."""

    __tablename__ = "voucher_release"

    id: Mapped[int] = mapped_column(primary_key=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("voucher_type.id"))
    release_date: Mapped[dt.date] = mapped_column(Date)
    opens_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    quota: Mapped[int] = mapped_column(Integer)
    returned: Mapped[int] = mapped_column(Integer, default=0)  # reclaimed vouchers added back
    claimed: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("type_id", "release_date", name="uq_voucher_release_type_date"),
        CheckConstraint("claimed >= 0 AND claimed <= quota + returned", name="within_quota"),
    )


class Voucher(Base):
    """A claimed voucher (券), valid for ``valid_hours`` after the claim."""

    __tablename__ = "voucher"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("voucher_campaign.id"))
    type_id: Mapped[int] = mapped_column(ForeignKey("voucher_type.id"))
    release_id: Mapped[int] = mapped_column(ForeignKey("voucher_release.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    week: Mapped[str] = mapped_column(String(8))  # ISO week of the claim (local), e.g. 2025-W11
    state: Mapped[VoucherState] = mapped_column(_enum(VoucherState))
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reclaimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    returned_to_release_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_release.id"))
    redeemed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("acquiring_merchant.id"))
    terminal_no: Mapped[str | None] = mapped_column(String(32))
    order_ref: Mapped[str | None] = mapped_column(String(64))
    order_amount: Mapped[int | None] = mapped_column(BigInteger)
    transfer_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # a voucher given back to its holder after a refund within its validity replaces this one
    reinstates_id: Mapped[int | None] = mapped_column(ForeignKey("voucher.id"), unique=True)

    __table_args__ = (
        # seed 002: each type at most once per person per week (每周最多可各领取1次). A refunded
        # voucher still counts (its claim is held by the check in claim_voucher), but leaves room
        # for the voucher reinstating it.
        Index(
            "uq_voucher_weekly",
            "type_id",
            "resident_id",
            "week",
            unique=True,
            sqlite_where=text("state <> 'refunded'"),
            postgresql_where=text("state <> 'refunded'"),
        ),
        UniqueConstraint("merchant_id", "order_ref", name="uq_voucher_merchant_order"),
        Index("ix_voucher_resident", "resident_id", "claimed_at"),
        Index("ix_voucher_state_expiry", "state", "expires_at"),
    )


class VoucherRefund(Base):
    """A return (退货) of part or all of an order paid with a voucher, by the redeeming merchant.

    ``amount`` is the order value returned; ``clawback`` the discount taken back from the
    merchant by ``transfer_id`` (the whole discount, once, when the order falls below the
    threshold), to ``clawback_to``: the campaign budget, or the fiscal account once the campaign
    is closed; ``resident_refund = amount − clawback`` what the merchant hands back to the
    resident. Rows are never edited.
    """

    __tablename__ = "voucher_refund"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("voucher.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("voucher_campaign.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("acquiring_merchant.id"))
    terminal_no: Mapped[str] = mapped_column(String(32))
    refund_ref: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    clawback: Mapped[int] = mapped_column(BigInteger)
    resident_refund: Mapped[int] = mapped_column(BigInteger)
    order_left: Mapped[int] = mapped_column(BigInteger)  # order value kept after this refund
    transfer_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    clawback_to: Mapped[ClawbackTo | None] = mapped_column(_enum(ClawbackTo))  # None: no clawback
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("merchant_id", "refund_ref", name="uq_voucher_refund_merchant_ref"),
        CheckConstraint(
            "amount > 0 AND clawback >= 0 AND resident_refund >= 0 AND order_left >= 0 "
            "AND resident_refund = amount - clawback",
            name="refund_amounts",
        ),
        CheckConstraint(
            "(clawback = 0 AND clawback_to IS NULL) OR (clawback > 0 AND clawback_to IS NOT NULL)",
            name="refund_clawback_to",
        ),
    )
