"""Tables of the card lifecycle."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime


class CardState(enum.StrEnum):
    APPLIED = "applied"
    ISSUED = "issued"
    ACTIVE = "active"
    SUSPENDED = "suspended"  # temporarily lost (临时挂失) by phone or app
    LOST = "lost"  # formally lost (正式挂失); a replacement follows
    REPLACED = "replaced"
    CANCELLED = "cancelled"


# A live card is one the holder still has: at most one per resident (enforced by a partial index).
LIVE_STATES = frozenset(
    {CardState.APPLIED, CardState.ISSUED, CardState.ACTIVE, CardState.SUSPENDED, CardState.LOST}
)
# Terminals must refuse a card in one of these states: each entry into one writes a deny-list "add".
DENIED_STATES = frozenset(
    {CardState.SUSPENDED, CardState.LOST, CardState.REPLACED, CardState.CANCELLED}
)
_LIVE_SQL = "state IN ({})".format(", ".join(f"'{s.name}'" for s in sorted(LIVE_STATES)))


class CardCategory(enum.StrEnum):
    """Card category (卡类别) read by fare, canteen and venue rules."""

    ORDINARY = "ordinary"
    SENIOR_60 = "senior_60"  # 60–69
    SENIOR_70 = "senior_70"  # 70 and over
    DISABLED = "disabled"
    VETERAN = "veteran"
    STUDENT = "student"


class Card(Base):
    __tablename__ = "card"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_no: Mapped[str] = mapped_column(String(9), unique=True)
    # Pseudonymous reference carried in e-SSC tokens and deny lists instead of the card number.
    card_ref: Mapped[str] = mapped_column(String(32), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    city_code: Mapped[str] = mapped_column(String(6))
    state: Mapped[CardState] = mapped_column(
        Enum(CardState, native_enum=False, length=16), index=True
    )
    replaces_card_id: Mapped[int | None] = mapped_column(ForeignKey("card.id"))
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    state_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # One live card per resident, also under concurrent applications.
        Index(
            "uq_card_live_resident",
            "resident_id",
            unique=True,
            sqlite_where=text(_LIVE_SQL),
            postgresql_where=text(_LIVE_SQL),
        ),
    )


class CardEvent(Base):
    """Every transition of a card, with who did it and why."""

    __tablename__ = "card_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("card.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DenyListEntry(Base):
    """One change of the deny list (黑名单) that terminals download as deltas.

    ``seq`` comes from the ``deny_list`` counter row, locked until commit, so sequence numbers are
    gap-free and appear in commit order: a terminal that has applied everything up to ``seq``
    never misses an entry by asking for what follows.
    """

    __tablename__ = "card_deny_list"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    card_ref: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(8))  # "add" | "remove"
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CardCounter(Base):
    """Named counters (card serials, deny-list sequence) that work alike on SQLite and PostgreSQL.

    Incremented with ``UPDATE … RETURNING``: the row lock serialises allocators on PostgreSQL and
    ``BEGIN IMMEDIATE`` does the same on SQLite; a rolled-back transaction gives its numbers back.
    """

    __tablename__ = "card_counter"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
