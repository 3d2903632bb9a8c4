"""Tables of acquiring (收单): merchants, their terminals, taps, upload batches and clearing runs.

Money never lives here: every amount a tap moves is a ledger transfer whose id the tap keeps.
Ledger accounts and cards are referred to by id/number only (other domains' tables).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class MerchantKind(enum.StrEnum):
    """What a merchant (商户/运营方) is; bus and metro taps are priced by the transit fare policy."""

    BUS = "bus"
    METRO = "metro"
    CANTEEN = "canteen"
    VENUE = "venue"
    HOSPITAL = "hospital"
    SHOP = "shop"


TRANSIT_KINDS = frozenset({MerchantKind.BUS, MerchantKind.METRO})


class TerminalState(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class TapChannel(enum.StrEnum):
    ONLINE = "online"  # authorised while the holder waits
    OFFLINE = "offline"  # accepted by the terminal, uploaded later in a batch


class TapStatus(enum.StrEnum):
    APPROVED = "approved"  # charged: a ledger transfer card → merchant exists
    DECLINED = "declined"  # refused online; nothing charged
    DEBT = "debt"  # an offline ride that could not be charged: owed by the card (欠费)
    REVERSED = "reversed"  # charged, then undone by a compensating transfer


class Merchant(Base):
    """A merchant or transport operator with its ledger accounts.

    ``acquired_account_id`` collects approved taps until the daily clearing moves the net amount
    to ``settlement_account_id`` (what the platform owes the merchant, paid out by the bank).
    """

    __tablename__ = "acquiring_merchant"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[MerchantKind] = mapped_column(_enum(MerchantKind))
    acquired_account_id: Mapped[int] = mapped_column(_BIG_ID)
    settlement_account_id: Mapped[int] = mapped_column(_BIG_ID)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Terminal(Base):
    """A card reader / QR scanner (终端) of a merchant, holding its own signing key."""

    __tablename__ = "acquiring_terminal"

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_no: Mapped[str] = mapped_column(String(32), unique=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("acquiring_merchant.id"), index=True)
    # Route or station the device serves (e.g. bus line "1", metro line "3"); free text for shops.
    line: Mapped[str | None] = mapped_column(String(32))
    algorithm: Mapped[str] = mapped_column(String(8))  # "Ed25519" | "SM2"
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[TerminalState] = mapped_column(_enum(TerminalState))
    # Highest request sequence accepted: a request must carry a larger one (no replay).
    last_request_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class UploadBatch(Base):
    """One upload of offline taps by a terminal, with what became of them."""

    __tablename__ = "acquiring_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("acquiring_terminal.id"), index=True)
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received: Mapped[int] = mapped_column(Integer)
    approved: Mapped[int] = mapped_column(Integer)
    debts: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)


class Tap(Base):
    """A card tap or QR scan at a terminal (刷卡/扫码), online or offline, and its outcome.

    ``(terminal_id, terminal_seq)`` is unique: the terminal's own counter makes a retried or
    re-uploaded tap the same tap, so it is never charged twice.
    """

    __tablename__ = "acquiring_tap"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("acquiring_terminal.id"))
    terminal_seq: Mapped[int] = mapped_column(BigInteger)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("acquiring_merchant.id"))
    channel: Mapped[TapChannel] = mapped_column(_enum(TapChannel))
    card_no: Mapped[str | None] = mapped_column(String(9))
    card_ref: Mapped[str | None] = mapped_column(String(32))
    resident_id: Mapped[int | None] = mapped_column(Integer)
    tapped_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    business_date: Mapped[dt.date] = mapped_column(Date)  # local (UTC+8) date of the tap
    amount: Mapped[int] = mapped_column(BigInteger)  # fen charged (or owed, for debts)
    # Fen given back since by fare adjustments (补退, ``FareAdjustment``): the ride costs
    # ``amount - refunded`` now. A debt's adjustment lowers ``amount`` itself (nothing moved).
    refunded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[TapStatus] = mapped_column(_enum(TapStatus))
    reason: Mapped[str] = mapped_column(String(32))  # "ok" or a decline reason code
    transfer_id: Mapped[int | None] = mapped_column(BigInteger)
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("acquiring_upload.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    cleared_run_id: Mapped[int | None] = mapped_column(ForeignKey("acquiring_clearing_run.id"))
    reversal_transfer_id: Mapped[int | None] = mapped_column(BigInteger)
    reversed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reversal_date: Mapped[dt.date | None] = mapped_column(Date)
    reversal_run_id: Mapped[int | None] = mapped_column(ForeignKey("acquiring_clearing_run.id"))

    __table_args__ = (
        UniqueConstraint("terminal_id", "terminal_seq", name="uq_acquiring_tap_terminal_seq"),
        # A card's rides by time; the trailing columns let pricing sum a month's rides per day
        # from the index alone (fare caps), without visiting the rows.
        Index(
            "ix_acquiring_tap_card_time",
            "card_no",
            "tapped_at",
            "status",
            "merchant_id",
            "business_date",
            "amount",
            "refunded",
        ),
        Index("ix_acquiring_tap_merchant_date", "merchant_id", "business_date"),
    )


class CardRideDay(Base):
    """What a card's rides of one local day cost now (乘车日累计): over its taps at bus and
    metro merchants that count as rides (charged or owed, not reversed), the sum of what each
    costs now (``amount - refunded``).

    Kept with the taps in the same transaction (an insert adds, a reversal or a fare adjustment
    takes off), it is what the month's caps need of the days not read ride by ride: pricing a
    day of rides reads at most a month of rows per card here, instead of every ride the card
    took this month. ``acquiring.ride_days_disagreeing`` checks it against the taps.
    """

    __tablename__ = "acquiring_card_ride_day"

    card_no: Mapped[str] = mapped_column(String(9), primary_key=True)
    business_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    fare: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = ({"sqlite_with_rowid": False},)


class ClearingRun(Base):
    """The daily clearing (日终清算) of one merchant: taps and reversals netted into one transfer."""

    __tablename__ = "acquiring_clearing_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("acquiring_merchant.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    taps: Mapped[int] = mapped_column(Integer)
    gross: Mapped[int] = mapped_column(BigInteger)
    reversals: Mapped[int] = mapped_column(Integer)
    reversed_amount: Mapped[int] = mapped_column(BigInteger)
    # Fare adjustments (补退) refunded to cards since the taps were charged, netted here.
    adjustments: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    adjusted_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    net: Mapped[int] = mapped_column(BigInteger)
    transfer_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("merchant_id", "business_date", name="uq_acquiring_clearing_day"),
    )


class FareAdjustment(Base):
    """A fare adjustment (补退): a ride re-priced lower once an earlier ride of the card came in.

    Offline rides arrive in the order terminals upload them, not the order they happened. A
    ride priced before an earlier one was known missed what that ride gives the rides after it
    (a transfer discount, a cap reached sooner). When the earlier ride arrives, the card's later
    rides are priced again in time order; each that now costs less is refunded the difference
    by a ledger transfer from the merchant's acquired account back to the card's purse (or, for
    a debt, owes less). A ride is never charged more after the fact. Netted against the
    merchant in the clearing of ``adjustment_date``.
    """

    __tablename__ = "acquiring_fare_adjustment"

    id: Mapped[int] = mapped_column(primary_key=True)
    tap_id: Mapped[int] = mapped_column(ForeignKey("acquiring_tap.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("acquiring_merchant.id"))
    card_no: Mapped[str] = mapped_column(String(9))
    fare_before: Mapped[int] = mapped_column(BigInteger)
    fare_after: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)  # fen refunded (or taken off a debt)
    transfer_id: Mapped[int | None] = mapped_column(BigInteger)  # None: a debt, nothing moved
    cause_tap_id: Mapped[int | None] = mapped_column(BigInteger)  # the late, earlier ride
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)  # the fare as priced again
    adjusted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    adjustment_date: Mapped[dt.date] = mapped_column(Date)  # local (UTC+8) date
    run_id: Mapped[int | None] = mapped_column(ForeignKey("acquiring_clearing_run.id"))

    __table_args__ = (
        Index("ix_acquiring_fare_adjustment_merchant_date", "merchant_id", "adjustment_date"),
    )
