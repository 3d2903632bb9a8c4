"""Federation tables: the inbox and its per-stream cursors, dead letters, rejections, peers, notes.

The outbox table lives in ``yikatong.core.outbox`` (every domain writes to it); importing it here
puts it in the metadata that ``db.create_schema`` builds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime
from yikatong.core.outbox import OutboxMessage, OutboxStream

__all__ = [
    "DeadLetter",
    "InboxMessage",
    "InboxStream",
    "Note",
    "OutboxMessage",
    "OutboxStream",
    "Peer",
    "Rejection",
]


class InboxMessage(Base):
    """An authenticated envelope received from another city (收件箱), kept as evidence."""

    __tablename__ = "federation_inbox"
    __table_args__ = (UniqueConstraint("sender", "stream", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    sender: Mapped[str] = mapped_column(String(6))
    stream: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    payload_type: Mapped[str] = mapped_column(String(64))
    # The whole signed wire form: proof of what the sender said (non-repudiation).
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # pending (waiting for its turn), applied, dead (handler failed), discarded (by an operator)
    status: Mapped[str] = mapped_column(String(16), index=True)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class InboxStream(Base):
    """Where the receiver stands in one (sender, stream): the next sequence number to apply."""

    __tablename__ = "federation_inbox_stream"
    __table_args__ = (UniqueConstraint("sender", "stream"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(6))
    stream: Mapped[str] = mapped_column(String(64))
    next_seq: Mapped[int] = mapped_column(BigInteger)
    # The inbox row whose handler failed: nothing after it applies until it is replayed/discarded.
    blocked_by: Mapped[int | None] = mapped_column(ForeignKey("federation_inbox.id"), default=None)


class DeadLetter(Base):
    """A message whose handler raised (死信): the stream waits for an operator."""

    __tablename__ = "federation_dead_letter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("federation_inbox.id"), unique=True)
    sender: Mapped[str] = mapped_column(String(6))
    stream: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(36))
    payload_type: Mapped[str] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    # open, replayed, discarded
    status: Mapped[str] = mapped_column(String(16), index=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    resolution: Mapped[str | None] = mapped_column(String(200), default=None)


class Rejection(Base):
    """An envelope the inbox refused, with its reason code (tampered, expired, replayed…)."""

    __tablename__ = "federation_rejection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    sender: Mapped[str | None] = mapped_column(String(64), default=None)
    message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    key_id: Mapped[str | None] = mapped_column(String(64), default=None)
    remote_addr: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[str] = mapped_column(Text)


class Peer(Base):
    """What this node last heard from another city."""

    __tablename__ = "federation_peer"

    city_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(64))
    hello_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    name: Mapped[str | None] = mapped_column(String(32), default=None)
    software_version: Mapped[str | None] = mapped_column(String(32), default=None)


class Note(Base):
    """A free-text note from another city (payload type ``note``): an operator channel and the
    simplest end-to-end proof that envelopes arrive once and in order."""

    __tablename__ = "federation_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(6), index=True)
    stream: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
