"""Tables of venues (一卡通游): the catalogue, time slots, tickets, annual passes and entries.

Money never lives here: a purchase keeps the id of the ledger transfer that paid it. The venue's
operator is an acquiring merchant (kind ``venue``), referred to by id; cards and residents are
referred to by number/id only (other domains' tables).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
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


class VenueCategory(enum.StrEnum):
    """The five venue categories of seed 001 (31 venues in Qingdao)."""

    MUSEUM = "museum"  # 博物馆、纪念馆
    PARK = "park"  # 公园
    SPORTS = "sports"  # 体育场馆
    LIBRARY = "library"  # 图书馆、文化馆
    SCENIC_SPOT = "scenic_spot"  # 景区


class ProductKind(enum.StrEnum):
    TICKET = "ticket"  # 单次门票: one entry on one day (or in one time slot)
    ANNUAL_PASS = "annual_pass"  # 年卡: entries up to a limit within its validity


class TicketStatus(enum.StrEnum):
    VALID = "valid"
    USED = "used"


class EntryOutcome(enum.StrEnum):
    ADMITTED = "admitted"
    DUPLICATE = "duplicate"  # the same holder scanned again within the window: not counted
    REFUSED = "refused"


class Venue(Base):
    __tablename__ = "venue"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[VenueCategory] = mapped_column(_enum(VenueCategory), index=True)
    district_code: Mapped[str | None] = mapped_column(String(6))
    address: Mapped[str | None] = mapped_column(String(200))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("acquiring_merchant.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class VenueProduct(Base):
    """What a venue sells: a ticket (optionally bound to a time slot) or an annual pass."""

    __tablename__ = "venue_product"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"), index=True)
    kind: Mapped[ProductKind] = mapped_column(_enum(ProductKind))
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[int] = mapped_column(BigInteger)  # full price in fen
    # Card-category concessions of the venue policy apply (优惠票); off for e.g. a concert.
    concessions: Mapped[bool] = mapped_column(Boolean, default=True)
    needs_slot: Mapped[bool] = mapped_column(Boolean, default=False)  # tickets: book a time slot
    validity_days: Mapped[int | None] = mapped_column(Integer)  # passes
    entry_limit: Mapped[int | None] = mapped_column(Integer)  # passes
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint(
            "kind <> 'annual_pass' OR (validity_days > 0 AND entry_limit > 0)",
            name="pass_terms",
        ),
    )


class TimeSlot(Base):
    """A time slot (预约时段) of a venue with its capacity; ``booked`` never exceeds it."""

    __tablename__ = "venue_slot"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    day: Mapped[dt.date] = mapped_column(Date)  # local (UTC+8) date of the start
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("venue_id", "starts_at", name="uq_venue_slot_start"),
        Index("ix_venue_slot_day", "venue_id", "day"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="within_capacity"),
        CheckConstraint("ends_at > starts_at", name="slot_order"),
    )


class Ticket(Base):
    """A ticket bought by a resident for a day (and a slot), paid from their card."""

    __tablename__ = "venue_ticket"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(16), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("venue_product.id"))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"))
    resident_id: Mapped[int] = mapped_column(Integer, index=True)  # the holder
    card_no: Mapped[str] = mapped_column(String(9))  # the card that paid
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("venue_slot.id"), index=True)
    valid_on: Mapped[dt.date] = mapped_column(Date)
    full_price: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)  # paid, after the concession
    concession: Mapped[str] = mapped_column(String(32))  # "none", "age_65", "disabled"…
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus))
    transfer_id: Mapped[int | None] = mapped_column(_BIG_ID)
    purchased_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_venue_ticket_holder_day", "resident_id", "venue_id", "valid_on"),)


class AnnualPass(Base):
    """An annual pass (年卡) of one holder: entries counted against ``entry_limit``."""

    __tablename__ = "venue_pass"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(16), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("venue_product.id"))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"))
    resident_id: Mapped[int] = mapped_column(Integer, index=True)
    card_no: Mapped[str] = mapped_column(String(9))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    entry_limit: Mapped[int] = mapped_column(Integer)
    entries_used: Mapped[int] = mapped_column(Integer, default=0)
    full_price: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    concession: Mapped[str] = mapped_column(String(32))
    transfer_id: Mapped[int | None] = mapped_column(_BIG_ID)
    purchased_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("entries_used >= 0 AND entries_used <= entry_limit", name="within_limit"),
        Index("ix_venue_pass_holder", "resident_id", "venue_id"),
    )


class Entry(Base):
    """Every scan at a venue gate (入园核验) and its outcome, admitted or not.

    ``(terminal_id, scan_seq)`` is unique: a retried request of the gate is the same scan.
    Admitted entries are positive evidence of life for pension certification.
    """

    __tablename__ = "venue_entry"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"))
    terminal_id: Mapped[int] = mapped_column(Integer)
    scan_seq: Mapped[int] = mapped_column(BigInteger)
    medium: Mapped[str] = mapped_column(String(8))  # "card" | "qr"
    card_no: Mapped[str | None] = mapped_column(String(9))
    resident_id: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[EntryOutcome] = mapped_column(_enum(EntryOutcome))
    reason: Mapped[str] = mapped_column(String(40))  # "ticket", "pass", or a refusal code
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("venue_ticket.id"))
    pass_id: Mapped[int | None] = mapped_column(ForeignKey("venue_pass.id"))
    id_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    business_date: Mapped[dt.date] = mapped_column(Date)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        UniqueConstraint("terminal_id", "scan_seq", name="uq_venue_entry_scan"),
        Index("ix_venue_entry_resident_at", "resident_id", "at"),
        Index("ix_venue_entry_venue_date", "venue_id", "business_date"),
    )
