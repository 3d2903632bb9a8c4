"""Tables of labour-capacity appraisal (劳动能力鉴定): the expert pool, declared conflicts, cases,
panel seats (one row per draw, declined ones kept) and conclusions recognised from other cities."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.appraisal.policy import AppraisalKind, InjuryCategory
from yikatong.core.db import Base, UTCDateTime


def _enum(kind: type[enum.Enum], length: int = 16) -> Enum:
    return Enum(
        kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class CaseStatus(enum.StrEnum):
    OPEN = "open"  # waiting for its panel
    PANEL = "panel"  # panel drawn; experts may decline and be replaced
    DELEGATED = "delegated"  # sent to the city where the person lives (委托鉴定)
    CONCLUDED = "concluded"  # a signed conclusion (here or from the delegated city)


class SeatStatus(enum.StrEnum):
    SEATED = "seated"
    DECLINED = "declined"


class Expert(Base):
    """An expert of the shared pool (鉴定专家库); experts of every league city sit in it."""

    __tablename__ = "appraisal_expert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    employer: Mapped[str] = mapped_column(String(100))
    specialities: Mapped[list[str]] = mapped_column(JSON)
    # The expert as a resident of this city's registry, for the relatives check (optional).
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class ExpertConflict(Base):
    """A conflict an expert declared (利益冲突申报): with a person or with an employer."""

    __tablename__ = "appraisal_expert_conflict"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("appraisal_expert.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    employer: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200))
    declared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AppraisalCase(Base):
    __tablename__ = "appraisal_case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[AppraisalKind] = mapped_column(_enum(AppraisalKind))
    category: Mapped[InjuryCategory] = mapped_column(_enum(InjuryCategory))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    employer: Mapped[str] = mapped_column(String(100))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    # Set when another city delegated this case to us, or when we delegated it to another city.
    delegated_from: Mapped[str | None] = mapped_column(String(6))
    delegated_to: Mapped[str | None] = mapped_column(String(6))
    seed: Mapped[str | None] = mapped_column(String(64))
    grade: Mapped[str | None] = mapped_column(String(16))
    concluded_on: Mapped[dt.date | None] = mapped_column(Date)
    concluded_by_city: Mapped[str | None] = mapped_column(String(6))
    conclusion: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    history: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class PanelSeat(Base):
    """One draw for one seat of a panel; a declined expert's row stays, the redraw adds one."""

    __tablename__ = "appraisal_panel_seat"
    __table_args__ = (UniqueConstraint("case_id", "seat_no", "round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("appraisal_case.id"), index=True)
    seat_no: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    speciality: Mapped[str] = mapped_column(String(32))
    expert_id: Mapped[int] = mapped_column(ForeignKey("appraisal_expert.id"))
    # Eligible expert ids in draw order, and the conflicts that excluded the others (recorded).
    candidates: Mapped[list[int]] = mapped_column(JSON)
    excluded: Mapped[dict[str, str]] = mapped_column(JSON)
    status: Mapped[SeatStatus] = mapped_column(_enum(SeatStatus))
    decline_reason: Mapped[str | None] = mapped_column(String(200))
    drawn_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RecognisedConclusion(Base):
    """A signed conclusion of another city, verified and recognised here (结论互认)."""

    __tablename__ = "appraisal_recognised_conclusion"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(36), unique=True)
    city_code: Mapped[str] = mapped_column(String(6))
    grade: Mapped[str] = mapped_column(String(16))
    id_masked: Mapped[str] = mapped_column(String(18))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_from: Mapped[str] = mapped_column(String(64))
