"""Federation tables: the inbox and its per-stream cursors, dead letters, rejections, peers, notes.

The outbox table lives in ``yikatong.core.outbox`` (every domain writes to it); importing it here
puts it in the metadata that ``db.create_schema`` builds.
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
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime
from yikatong.core.outbox import OutboxMessage, OutboxStream

__all__ = [
    "CatalogueEntry",
    "ClearingLine",
    "ClearingReport",
    "ClearingRun",
    "CrossCityAuthorisation",
    "DeadLetter",
    "InboxMessage",
    "InboxStream",
    "Note",
    "OutboxMessage",
    "OutboxStream",
    "Peer",
    "Rejection",
    "RemoteDenyCursor",
    "RemoteDenyEntry",
    "RpcRequest",
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


class RpcRequest(Base):
    """A signed request answered at once (rpc.py), kept with its signed answer: a retry of the same
    request gets the same answer instead of being applied again (an e-SSC code is used once)."""

    __tablename__ = "federation_rpc_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    sender: Mapped[str] = mapped_column(String(6), index=True)
    payload_type: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RemoteDenyEntry(Base):
    """Another city's deny list (黑名单) as last fetched: cards refused offline and in stand-in."""

    __tablename__ = "federation_remote_deny"
    __table_args__ = (UniqueConstraint("city_code", "card_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6))
    card_ref: Mapped[str] = mapped_column(String(32))
    denied: Mapped[bool] = mapped_column(Boolean)
    seq: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))


class RemoteDenyCursor(Base):
    """How far this node has read another city's deny list, and when it last asked."""

    __tablename__ = "federation_remote_deny_cursor"

    city_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CrossCityAuthorisation(Base):
    """A card or e-SSC code of one city used in another (异地用卡): recorded by the accepting city
    (mode online, stand-in or offline) and by the issuing city when it answered (mode issuer)."""

    __tablename__ = "federation_authorisation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    issuer_city: Mapped[str] = mapped_column(String(6), index=True)
    acquirer_city: Mapped[str] = mapped_column(String(6), index=True)
    instrument: Mapped[str] = mapped_column(String(8))  # card | essc
    card_ref: Mapped[str | None] = mapped_column(String(32), default=None)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    scenario: Mapped[str | None] = mapped_column(String(64), default=None)
    decision: Mapped[str] = mapped_column(String(16))  # approved | declined
    mode: Mapped[str] = mapped_column(String(16))  # online | stand-in | offline | issuer
    reason: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)


class CatalogueEntry(Base):
    """One scenario of a city's published catalogue (应用目录): which cities' cards it accepts
    there and on what terms. This city's own rows and the copies other cities sent."""

    __tablename__ = "federation_catalogue_entry"
    __table_args__ = (UniqueConstraint("city_code", "scenario"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    scenario: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    accepts: Mapped[list[str]] = mapped_column(JSON)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(200), default=None)
    version: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ClearingLine(Base):
    """One cross-city payment as this city recorded it (清分明细): as acquirer (the card of the
    counterparty was used here) or as issuer (this city's card was used there)."""

    __tablename__ = "federation_clearing_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_ref: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(8))  # acquirer | issuer
    counterparty: Mapped[str] = mapped_column(String(6), index=True)
    acquirer_city: Mapped[str] = mapped_column(String(6))
    issuer_city: Mapped[str] = mapped_column(String(6))
    business_date: Mapped[dt.date] = mapped_column(Date, index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    card_ref: Mapped[str | None] = mapped_column(String(32), default=None)
    scenario: Mapped[str | None] = mapped_column(String(64), default=None)
    transfer_id: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ClearingRun(Base):
    """The daily clearing (日终清算) with one counterparty: net position, settlement transfer and
    the statement sent to the counterparty."""

    __tablename__ = "federation_clearing_run"
    __table_args__ = (UniqueConstraint("counterparty", "business_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    counterparty: Mapped[str] = mapped_column(String(6))
    business_date: Mapped[dt.date] = mapped_column(Date)
    acquired_fen: Mapped[int] = mapped_column(BigInteger)
    issued_fen: Mapped[int] = mapped_column(BigInteger)
    net_fen: Mapped[int] = mapped_column(BigInteger)  # > 0: the counterparty owes this city
    lines: Mapped[int] = mapped_column(Integer)
    transfer_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    message_id: Mapped[str] = mapped_column(String(36))
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ClearingReport(Base):
    """A counterparty's signed statement compared line by line with this city's own lines."""

    __tablename__ = "federation_clearing_report"
    __table_args__ = (UniqueConstraint("counterparty", "business_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    counterparty: Mapped[str] = mapped_column(String(6))
    business_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # balanced | mismatch
    their_net_fen: Mapped[int] = mapped_column(BigInteger)
    our_net_fen: Mapped[int] = mapped_column(BigInteger)
    matched: Mapped[int] = mapped_column(Integer)
    mismatches: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    statement_message_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
