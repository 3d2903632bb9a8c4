"""Tables of "一件事" bundled applications: one application, the back-office tasks it spawns.

A task is unique per application and kind, so running an application again finds its tasks and
never creates a second one; what a task did is kept as a reference to the other domain's row
(``result_ref``) and a sentence saying why (``outcome``).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Date, Enum, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class BundleKind(enum.StrEnum):
    RETIREMENT = "retirement"  # 退休一件事
    NEWBORN = "newborn"  # 出生一件事
    DEATH = "death"  # 身后一件事


class TaskKind(enum.StrEnum):
    """One back-office action, named after what it achieves; the domain that does it is known."""

    PENSION_START = "pension_start"  # benefits: pension beneficiary from the start month
    MEDICAL_STATUS = "medical_status"  # medical: retiree status
    CARD_CATEGORY = "card_category"  # cards: category on the pension start date
    CERTIFICATION_SCHEDULE = "certification_schedule"  # certification: yearly schedule
    REGISTRY_ENTRY = "registry_entry"  # registry: the newborn enrolled, linked to the parent
    MEDICAL_ENROLMENT = "medical_enrolment"  # medical: enrolled and paid, no waiting period
    CARD_APPLICATION = "card_application"  # cards: a card applied for
    DEATH_REGISTRATION = "death_registration"  # registry: recorded as deceased
    CARD_CANCELLATION = "card_cancellation"  # cards: every live card cancelled
    PAYMENTS_STOP = "payments_stop"  # benefits: every enrolment stopped
    FUNERAL_GRANT = "funeral_grant"  # benefits: one-off grant to the relative who applied
    OVERPAYMENT_RECOVERY = "overpayment_recovery"  # benefits: months paid after death owed back


class TaskState(enum.StrEnum):
    PENDING = "pending"  # not run yet, or waiting for an earlier task of the application
    DONE = "done"
    FAILED = "failed"  # the domain refused; a clerk retries once the cause is fixed
    WAITING_FOR_DOMAIN = "waiting_for_domain"  # the domain that does it is not on this node


class BundleStatus(enum.StrEnum):
    """The one status the resident sees."""

    IN_PROGRESS = "in_progress"  # 办理中
    NEEDS_ATTENTION = "needs_attention"  # 待人工处理: a task failed, staff are on it
    COMPLETED = "completed"  # 已办结


class BundleApplication(Base):
    __tablename__ = "bundle_application"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[BundleKind] = mapped_column(_enum(BundleKind))
    # One application per person and life event: "newborn:<id hash>", "death:<resident id>"…
    dedupe_key: Mapped[str] = mapped_column(String(80), unique=True)
    applicant_resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), index=True)
    # Whom the event is about: the retiree, the deceased, the newborn once registered.
    subject_resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), index=True)
    subject_label: Mapped[str] = mapped_column(String(80))  # masked name/ID for lists
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    # SM4-GCM sealed personal data a task still needs (the newborn's ID number), else None.
    private_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[BundleStatus] = mapped_column(_enum(BundleStatus))
    submitted_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class BundleTask(Base):
    __tablename__ = "bundle_task"
    __table_args__ = (UniqueConstraint("application_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("bundle_application.id"), index=True)
    kind: Mapped[TaskKind] = mapped_column(_enum(TaskKind))
    position: Mapped[int] = mapped_column(Integer)
    domain: Mapped[str] = mapped_column(String(32))
    state: Mapped[TaskState] = mapped_column(_enum(TaskState), index=True)
    due_on: Mapped[dt.date] = mapped_column(Date)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(400))
    result_ref: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(String(400))
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))
