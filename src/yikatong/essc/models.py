"""Tables of the electronic SSC (电子社保卡): app accounts, family accounts, used QR nonces."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime


class EsscAccount(Base):
    """A resident's e-SSC app account (one per resident), with its payment PIN (支付密码)."""

    __tablename__ = "essc_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), unique=True)
    app_account_id: Mapped[str] = mapped_column(String(64), unique=True)
    # scrypt(PIN, salt); None until the resident sets a PIN.
    pin_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    pin_salt: Mapped[bytes | None] = mapped_column(LargeBinary)
    failed_pin_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FamilyMember(Base):
    """A relative in the holder's family account (亲情账户), who may be shown an L1 code."""

    __tablename__ = "essc_family_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("essc_account.id", ondelete="CASCADE"), index=True
    )
    relative_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    relation: Mapped[str] = mapped_column(String(16))
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("account_id", "relative_id"),)


class UsedNonce(Base):
    """Nonces of codes already accepted online: a code is good once (一码一用)."""

    __tablename__ = "essc_used_nonce"

    nonce: Mapped[str] = mapped_column(String(24), primary_key=True)  # hex of 8–12 bytes
    card_ref: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
