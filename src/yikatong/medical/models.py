"""Tables of resident medical insurance: enrolments, contributions, institutions, year-to-date
accumulators, settled claims and off-site filings. Money columns are integer fen."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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


class PaymentChannel(enum.StrEnum):
    """Where a contribution came from."""

    CARD = "card"  # the card's financial account (一卡通金融账户)
    FAMILY = "family"  # a relative's employee personal account (个人账户家庭共济)
    BANK = "bank"  # recorded from an external channel, with its reference
    APP = "app"
    TAX = "tax"  # tax bureau collection (税务征收)


EXTERNAL_CHANNELS = frozenset({PaymentChannel.BANK, PaymentChannel.APP, PaymentChannel.TAX})


class ContributionStatus(enum.StrEnum):
    PAID = "paid"
    REFUNDED = "refunded"


class Enrolment(Base):
    """One resident's enrolment (参保登记) for one cover year and what it decided."""

    __tablename__ = "medical_enrolment"
    __table_args__ = (UniqueConstraint("resident_id", "year", name="uq_medical_enrolment_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    city_code: Mapped[str] = mapped_column(String(6))
    category: Mapped[str] = mapped_column(String(16))
    amount_due: Mapped[int] = mapped_column(BigInteger)
    subsidy: Mapped[int] = mapped_column(BigInteger)
    # consecutive insured years right before ``year`` (连续参保年限), read by the reward
    continuous_years: Mapped[int] = mapped_column(Integer, default=0)
    paid: Mapped[bool] = mapped_column(Boolean, default=False)
    covered_from: Mapped[dt.date | None] = mapped_column(Date)
    cover_rule: Mapped[str | None] = mapped_column(String(24))
    waiting_months: Mapped[int | None] = mapped_column(Integer)
    explanation: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64), default="")


class Contribution(Base):
    """One payment of an enrolment's contribution (缴费), and its refund if any."""

    __tablename__ = "medical_contribution"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("medical_enrolment.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[PaymentChannel] = mapped_column(_enum(PaymentChannel, 8))
    payer_resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    external_ref: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    paid_on: Mapped[dt.date] = mapped_column(Date)
    transfer_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[ContributionStatus] = mapped_column(_enum(ContributionStatus, 12))
    refund_transfer_id: Mapped[int | None] = mapped_column(BigInteger)
    refund_reason: Mapped[str | None] = mapped_column(String(200))
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64), default="")


class Institution(Base):
    """A medical institution (医疗机构): level, whether designated (定点), province-wide direct
    settlement (省内一卡通行/直接结算)."""

    __tablename__ = "medical_institution"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    level: Mapped[int] = mapped_column(Integer)
    designated: Mapped[bool] = mapped_column(Boolean)
    province_direct: Mapped[bool] = mapped_column(Boolean)
    city_code: Mapped[str] = mapped_column(String(6))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Accumulator(Base):
    """A resident's year-to-date figures (年度累计); locked by every settlement of that person."""

    __tablename__ = "medical_accumulator"
    __table_args__ = (UniqueConstraint("resident_id", "year", name="uq_medical_accumulator_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    year: Mapped[int] = mapped_column(Integer)
    deductible_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    fund_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    critical_illness_eligible: Mapped[int] = mapped_column(BigInteger, default=0)
    critical_illness_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    claims: Mapped[int] = mapped_column(Integer, default=0)


class ClaimStatus(enum.StrEnum):
    SETTLED = "settled"
    REVERSED = "reversed"


class ClaimRecord(Base):
    """A settled bill (结算单). ``attempt`` counts re-settlements of one hospital claim number
    after reversals; only one attempt of a claim number is ever settled at a time."""

    __tablename__ = "medical_claim"
    __table_args__ = (
        UniqueConstraint("institution_id", "claim_no", "attempt", name="uq_medical_claim_attempt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("medical_institution.id"), index=True)
    claim_no: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(Integer)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    service_date: Mapped[dt.date] = mapped_column(Date)
    level: Mapped[int] = mapped_column(Integer)
    offsite_case: Mapped[str | None] = mapped_column(String(32))
    family_payer_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    status: Mapped[ClaimStatus] = mapped_column(_enum(ClaimStatus, 12))
    total: Mapped[int] = mapped_column(BigInteger)
    fund: Mapped[int] = mapped_column(BigInteger)
    critical_illness: Mapped[int] = mapped_column(BigInteger)
    personal_account: Mapped[int] = mapped_column(BigInteger)
    family_account: Mapped[int] = mapped_column(BigInteger)
    cash: Mapped[int] = mapped_column(BigInteger)
    ratio_bp: Mapped[int] = mapped_column(Integer)
    # what this claim added to the accumulators, taken back on reversal
    delta_deductible: Mapped[int] = mapped_column(BigInteger)
    delta_fund: Mapped[int] = mapped_column(BigInteger)
    delta_ci_eligible: Mapped[int] = mapped_column(BigInteger)
    delta_ci_paid: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    transfer_ids: Mapped[list[int]] = mapped_column(JSON)
    settled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    settled_by: Mapped[str] = mapped_column(String(64))
    reversed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reversal_reason: Mapped[str | None] = mapped_column(String(200))


class FilingKind(enum.StrEnum):
    """Off-site care filing (异地就医备案) kinds."""

    LONG_TERM = "long_term"  # 异地长期居住: no expiry
    TEMPORARY = "temporary"  # 临时外出工作/学习: at least 6 months
    REFERRAL = "referral"  # 转诊转院
    EMERGENCY = "emergency"  # 急诊抢救


class FilingStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class OffsiteFiling(Base):
    __tablename__ = "medical_offsite_filing"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    kind: Mapped[FilingKind] = mapped_column(_enum(FilingKind, 16))
    destination_city_code: Mapped[str] = mapped_column(String(6))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[FilingStatus] = mapped_column(_enum(FilingStatus, 12))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    renewed_from_id: Mapped[int | None] = mapped_column(ForeignKey("medical_offsite_filing.id"))


class TransferRole(enum.StrEnum):
    """Which side of a transfer (医保关系转移接续) this node is."""

    NEW_CITY = "new_city"  # 转入地: the person enrols here and asks for the history
    OLD_CITY = "old_city"  # 转出地: closes the record and sends the contribution history


class TransferStatus(enum.StrEnum):
    REQUESTED = "requested"  # asked (new city) / received the request (old city)
    CLOSED = "closed"  # old city: record closed, history sent — its step is done
    RECEIVED = "received"  # new city: history received, years to recognise
    COMPLETED = "completed"  # new city: years recognised, transfer done


class TransferCase(Base):
    """One transfer between cities as seen by this node, with the working-day deadline of each
    step. The two nodes share ``case_ref``; their packets travel through the outbox."""

    __tablename__ = "medical_transfer"
    __table_args__ = (UniqueConstraint("case_ref", "role", name="uq_medical_transfer_case"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(36))
    role: Mapped[TransferRole] = mapped_column(_enum(TransferRole, 12))
    status: Mapped[TransferStatus] = mapped_column(_enum(TransferStatus, 12), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), index=True)
    old_city_code: Mapped[str] = mapped_column(String(6))
    new_city_code: Mapped[str] = mapped_column(String(6))
    requested_on: Mapped[dt.date] = mapped_column(Date)
    # old city's step, counted from the day it had the request; end to end from the request
    old_city_due: Mapped[dt.date] = mapped_column(Date)
    end_to_end_due: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    received_on: Mapped[dt.date | None] = mapped_column(Date)
    new_city_due: Mapped[dt.date | None] = mapped_column(Date)
    completed_on: Mapped[dt.date | None] = mapped_column(Date)
    # the history: last day covered in the old city and its insured (contribution) years
    covered_until: Mapped[dt.date | None] = mapped_column(Date)
    insured_years: Mapped[list[int]] = mapped_column(JSON, default=list)
    explanation: Mapped[list[str]] = mapped_column(JSON, default=list)
    messages: Mapped[list[str]] = mapped_column(JSON, default=list)  # outbox message ids
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64), default="")
