"""Tables of the resident registry.

Personal data (ID number, phone, bank account) is stored SM4-encrypted, found by a keyed hash
(HMAC-SM3), and kept in a masked form for display.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Date, Enum, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime


class ResidentStatus(enum.StrEnum):
    ACTIVE = "active"
    DECEASED = "deceased"


class RelationType(enum.StrEnum):
    SPOUSE = "spouse"
    PARENT = "parent"  # the relative is the resident's parent
    CHILD = "child"
    SIBLING = "sibling"
    GRANDPARENT = "grandparent"
    GRANDCHILD = "grandchild"

    @property
    def inverse(self) -> RelationType:
        return _INVERSE[self]


_INVERSE = {
    RelationType.SPOUSE: RelationType.SPOUSE,
    RelationType.PARENT: RelationType.CHILD,
    RelationType.CHILD: RelationType.PARENT,
    RelationType.SIBLING: RelationType.SIBLING,
    RelationType.GRANDPARENT: RelationType.GRANDCHILD,
    RelationType.GRANDCHILD: RelationType.GRANDPARENT,
}


class Resident(Base):
    __tablename__ = "resident"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Pseudonymous public reference used in tokens and messages instead of the ID number.
    person_ref: Mapped[str] = mapped_column(String(32), unique=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_masked: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_masked: Mapped[str | None] = mapped_column(String(16))
    bank_account_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    bank_account_masked: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(200))
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    household_no: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[ResidentStatus] = mapped_column(
        Enum(ResidentStatus, native_enum=False, length=16), default=ResidentStatus.ACTIVE
    )
    died_on: Mapped[dt.date | None] = mapped_column(Date)
    # Attributes the card category and benefit rules read.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    veteran: Mapped[bool] = mapped_column(Boolean, default=False)
    student: Mapped[bool] = mapped_column(Boolean, default=False)
    low_income: Mapped[bool] = mapped_column(Boolean, default=False)  # 困难 (struggling)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Who enrolled the resident and who recorded the death (staff subject or import job).
    created_by: Mapped[str] = mapped_column(String(64), default="")
    death_recorded_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_resident_name_birth", "name", "birth_date"),)


class Relation(Base):
    """A directed family link; each link is stored together with its inverse."""

    __tablename__ = "relation"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("resident.id", ondelete="CASCADE"), index=True
    )
    relative_id: Mapped[int] = mapped_column(
        ForeignKey("resident.id", ondelete="CASCADE"), index=True
    )
    relation: Mapped[RelationType] = mapped_column(Enum(RelationType, native_enum=False, length=16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (UniqueConstraint("resident_id", "relative_id"),)
