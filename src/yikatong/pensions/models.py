"""Tables of pension transfer (养老保险关系转移): contribution years and transfer cases.

A case exists once on each of the two cities' nodes under the same ``case_ref``; each node holds
its own side (``role``) and learns the other side's steps from packets. Money is integer fen.
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
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime


def _enum(kind: type[enum.Enum], length: int = 24) -> Enum:
    return Enum(
        kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class PensionRole(enum.StrEnum):
    OLD_CITY = "old_city"  # 转出地: issues the certificate, sends the sheet and the fund
    NEW_CITY = "new_city"  # 转入地: sends the contact letter, receives the fund


class TransferStep(enum.StrEnum):
    """The step a case waits for; each is owed by one of the two cities."""

    CERTIFICATE = "certificate"  # 参保缴费凭证, old city
    LETTER = "letter"  # 联系函, new city
    SHEET = "sheet"  # 信息表 + fund transfer, old city
    RECEIPT = "receipt"  # fund received and the record merged, new city
    COMPLETED = "completed"
    TEMPORARY = "temporary"  # 临时账户: relation kept in the old city, nothing moves

    @property
    def owner(self) -> PensionRole | None:
        return _OWNER.get(self)

    @property
    def label(self) -> str:
        return _LABEL[self]


_OWNER = {
    TransferStep.CERTIFICATE: PensionRole.OLD_CITY,
    TransferStep.LETTER: PensionRole.NEW_CITY,
    TransferStep.SHEET: PensionRole.OLD_CITY,
    TransferStep.RECEIPT: PensionRole.NEW_CITY,
}
_LABEL = {
    TransferStep.CERTIFICATE: "参保缴费凭证",
    TransferStep.LETTER: "联系函",
    TransferStep.SHEET: "信息表+基金转移",
    TransferStep.RECEIPT: "基金到账",
    TransferStep.COMPLETED: "办结",
    TransferStep.TEMPORARY: "临时账户",
}
OPEN_STEPS = (
    TransferStep.CERTIFICATE,
    TransferStep.LETTER,
    TransferStep.SHEET,
    TransferStep.RECEIPT,
)


class PensionContribution(Base):
    """A year of basic pension contributions of a resident in one city (this city's own years,
    and years recognised from another city by a completed transfer)."""

    __tablename__ = "pension_contribution"
    __table_args__ = (UniqueConstraint("resident_id", "year", "city_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    months: Mapped[int] = mapped_column(Integer)
    monthly_base: Mapped[int] = mapped_column(BigInteger)  # fen
    city_code: Mapped[str] = mapped_column(String(6))
    # The individual-account credit posted for this year (0 for recognised years).
    credited: Mapped[int] = mapped_column(BigInteger, default=0)
    transfer_id: Mapped[int | None] = mapped_column(BigInteger)
    transfer_case_ref: Mapped[str | None] = mapped_column(String(36))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))


class PensionTransfer(Base):
    """One transfer case (转移接续业务) as this city sees it."""

    __tablename__ = "pension_transfer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(36), unique=True)
    role: Mapped[PensionRole] = mapped_column(_enum(PensionRole, 12))
    step: Mapped[TransferStep] = mapped_column(_enum(TransferStep, 12), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    old_city_code: Mapped[str] = mapped_column(String(6))
    new_city_code: Mapped[str] = mapped_column(String(6))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    certificate_on: Mapped[dt.date | None] = mapped_column(Date)
    letter_on: Mapped[dt.date | None] = mapped_column(Date)
    sheet_on: Mapped[dt.date | None] = mapped_column(Date)
    receipt_on: Mapped[dt.date | None] = mapped_column(Date)
    # From the certificate: [{year, months, monthly_base, city_code}] and the two fund parts.
    years: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    individual_account: Mapped[int | None] = mapped_column(BigInteger)
    pooled: Mapped[int | None] = mapped_column(BigInteger)
    # From the contact letter.
    hukou_city_code: Mapped[str | None] = mapped_column(String(6))
    temporary: Mapped[bool | None] = mapped_column()
    paying_city_code: Mapped[str | None] = mapped_column(String(6))
    # Ledger transfers this node posted (out: old city, in: new city).
    transfer_ids: Mapped[list[int]] = mapped_column(JSON)
    messages: Mapped[list[str]] = mapped_column(JSON)
    history: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
