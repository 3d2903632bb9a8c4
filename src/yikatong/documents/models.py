"""The register of issued certificates (证明出具登记): what online verification checks."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime


class DocumentType(enum.StrEnum):
    PROOF = "proof"  # 参保证明
    CONTRIBUTIONS = "contributions"  # 缴费明细

    @property
    def code(self) -> int:
        """The type's byte in the QR payload."""
        return 1 if self is DocumentType.PROOF else 2


class IssuedDocument(Base):
    """One certificate as issued: its serial, whose it is, and the digest its QR code signs.

    ``content`` is the canonical JSON shown on the page, so that a verifier holding only the QR
    text can be shown what the genuine document says.
    """

    __tablename__ = "document_issued"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    doc_type: Mapped[DocumentType] = mapped_column(Enum(DocumentType, native_enum=False, length=16))
    digest: Mapped[str] = mapped_column(String(64))  # SM3 of the canonical content, hex
    key_id: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    issued_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoke_reason: Mapped[str | None] = mapped_column(String(200))
