"""The transactional outbox (发件箱): messages for other cities, written with the business change.

A domain that must tell another node something calls :func:`enqueue` inside the transaction that
makes the change; both commit or neither does. A dispatcher (``yikatong.federation.dispatcher``)
later signs and delivers the rows, outside any transaction. The outbox knows nothing of envelopes,
keys or HTTP: it is a table, a per-stream sequence and the delivery bookkeeping.

Sequence numbers are per (receiver, stream) and gap-free: the counter row in ``outbox_stream`` is
incremented with ``UPDATE … RETURNING``, which takes the row lock on PostgreSQL (a concurrent
transaction waits for the commit and then sees the new value) and runs under the write lock that
``BEGIN IMMEDIATE`` takes on SQLite. A rolled-back transaction rolls its number back too.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text, UniqueConstraint, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from yikatong.core import clock
from yikatong.core.db import Base, UTCDateTime
from yikatong.core.errors import InvalidInput

CITY_CODE_LENGTH = 6
MAX_NAME = 64


class OutboxStream(Base):
    """The last sequence number handed out per (receiver, stream)."""

    __tablename__ = "outbox_stream"
    __table_args__ = (UniqueConstraint("receiver", "stream"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receiver: Mapped[str] = mapped_column(String(CITY_CODE_LENGTH))
    stream: Mapped[str] = mapped_column(String(MAX_NAME))
    last_seq: Mapped[int] = mapped_column(BigInteger)


class OutboxMessage(Base):
    """One message waiting for (or past) delivery to another city."""

    __tablename__ = "outbox_message"
    __table_args__ = (UniqueConstraint("receiver", "stream", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    receiver: Mapped[str] = mapped_column(String(CITY_CODE_LENGTH), index=True)
    stream: Mapped[str] = mapped_column(String(MAX_NAME))
    seq: Mapped[int] = mapped_column(BigInteger)
    payload_type: Mapped[str] = mapped_column(String(MAX_NAME))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    enqueued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Delivery bookkeeping, written by the dispatcher only.
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


def _check_name(value: str, field: str) -> None:
    if not value or len(value) > MAX_NAME or not all(c.isalnum() or c in "._-" for c in value):
        raise InvalidInput(
            f"{field} must be 1–{MAX_NAME} letters, digits, '.', '_' or '-'; got {value!r}",
            field=field,
        )


def _check_json(value: Any, path: str) -> None:
    """Bodies are signed as canonical JSON: only types that serialise one way are allowed."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        # Floats print differently across languages (and money is integer fen anyway).
        raise InvalidInput(
            f"{path} is a float ({value!r}); send integers (fen) or strings", field=path
        )
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{path} has a non-string key {key!r}", field=path)
            _check_json(item, f"{path}.{key}")
        return
    raise InvalidInput(f"{path} of type {type(value).__name__} is not JSON", field=path)


def _next_seq(session: Session, receiver: str, stream: str) -> int:
    bump = (
        update(OutboxStream)
        .where(OutboxStream.receiver == receiver, OutboxStream.stream == stream)
        .values(last_seq=OutboxStream.last_seq + 1)
        .returning(OutboxStream.last_seq)
    )
    for _ in range(2):
        seq = session.execute(bump).scalar_one_or_none()
        if seq is not None:
            return int(seq)
        try:
            # First message of this stream; a concurrent first insert makes ours fail and the
            # UPDATE above then waits on theirs.
            with session.begin_nested():
                session.execute(
                    insert(OutboxStream).values(receiver=receiver, stream=stream, last_seq=1)
                )
            return 1
        except IntegrityError:
            continue
    raise RuntimeError(f"could not allocate a sequence number for {receiver}/{stream}")


def enqueue(
    session: Session, receiver: str, stream: str, payload_type: str, body: dict[str, Any]
) -> str:
    """Queue ``body`` for the city ``receiver`` in the caller's transaction; return the message id.

    ``stream`` orders messages: the receiver applies them one by one in sequence order, so put
    messages that depend on each other (e.g. one clearing day) on the same stream.
    """
    if len(receiver) != CITY_CODE_LENGTH or not receiver.isdigit():
        raise InvalidInput(
            f"receiver must be a six-digit city code (GB/T 2260); got {receiver!r}",
            field="receiver",
        )
    _check_name(stream, "stream")
    _check_name(payload_type, "payload_type")
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object", field="body")
    _check_json(body, "body")
    seq = _next_seq(session, receiver, stream)
    now = clock.now()
    message_id = str(uuid.uuid4())
    session.add(
        OutboxMessage(
            message_id=message_id,
            receiver=receiver,
            stream=stream,
            seq=seq,
            payload_type=payload_type,
            # A deep copy through JSON: later changes to the caller's dict do not leak in.
            body=json.loads(json.dumps(body)),
            enqueued_at=now,
            attempts=0,
            next_attempt_at=now,
        )
    )
    session.flush()
    return message_id
