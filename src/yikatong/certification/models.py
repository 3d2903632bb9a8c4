"""Tables of pension qualification certification (社保资格认证).

* ``certification_evidence``: evidence this domain holds itself: imported files (hospital
  admissions, travel security checks, death registrations, imprisonment, emigration), results of
  the fallback channels (app face check, service point, home visit) and results certified by
  another league city. ``(kind, source, source_ref)`` is unique, so a re-imported file or a
  repeated callback adds nothing.
* ``certification_state``: the latest decision per retiree (one row each), written by a run.
* ``certification_run``: one run of the rules, with its counts.
* ``certification_identity_provider``: identity providers whose signed face-check results are
  accepted, with the public key registered on this node.
* ``certification_overpayment``: pension lines paid after death, booked as receivables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime


class Evidence(Base):
    __tablename__ = "certification_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    kind: Mapped[str] = mapped_column(String(24))  # a name of rules.KINDS
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(64))  # import:<file kind>, idp:<code>, city:<code>…
    source_ref: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("kind", "source", "source_ref"),
        Index("ix_certification_evidence_resident_kind", "resident_id", "kind"),
    )


class State(Base):
    """Where a retiree stands after the latest run (and after any result recorded since)."""

    __tablename__ = "certification_state"

    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # rules.STATUSES
    stage: Mapped[str | None] = mapped_column(String(16))  # rules.STAGES
    last_positive_on: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    last_kind: Mapped[str | None] = mapped_column(String(24))
    last_channel: Mapped[str | None] = mapped_column(String(16))
    negative_kind: Mapped[str | None] = mapped_column(String(24))
    negative_on: Mapped[dt.date | None] = mapped_column(Date)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)  # pension held by us
    as_of: Mapped[dt.date] = mapped_column(Date)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("certification_run.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Run(Base):
    __tablename__ = "certification_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    engine: Mapped[str] = mapped_column(String(16))
    retirees: Mapped[int] = mapped_column(Integer)
    certified: Mapped[int] = mapped_column(Integer)
    fallback: Mapped[int] = mapped_column(Integer)
    suspended: Mapped[int] = mapped_column(Integer)
    negative: Mapped[int] = mapped_column(Integer)
    newly_suspended: Mapped[int] = mapped_column(Integer)
    resumed: Mapped[int] = mapped_column(Integer)
    overpaid_lines: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))


class IdentityProvider(Base):
    """An identity provider (e.g. the app's face recognition service, 人脸识别) and its key."""

    __tablename__ = "certification_identity_provider"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(8))  # SM2 or Ed25519
    public_key: Mapped[str] = mapped_column(String(200))  # hex
    key_id: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    registered_by: Mapped[str] = mapped_column(String(64))


class Overpayment(Base):
    """A pension line paid for a month after death (多发), owed back through a ledger receivable."""

    __tablename__ = "certification_overpayment"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("benefit_payment_line.id"), unique=True)
    period: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    transfer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_transfer.id"))
    died_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
