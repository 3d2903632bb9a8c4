"""Federation use cases: send to another city, receive and apply in order, handle poison messages.

Sending: a domain calls :func:`send` (or ``core.outbox.enqueue``) in the transaction of its
business change; the dispatcher delivers later.

Receiving: the inbox verifies an envelope (``envelope.verify``) outside any transaction, then
:func:`receive` stores it and applies every message that is now in order for its
(sender, stream), each through the handler registered for its payload type, in the same
transaction as the inbox row.

Poison messages (毒消息): a handler that raises leaves its message **dead-lettered and the stream
blocked** — later messages of that (sender, stream) are stored and acknowledged but not applied
until an operator replays (after fixing the cause) or discards the dead letter. Clearing needs
this: applying day n+1 of a clearing stream over a missing day n would settle the wrong
balances, and skipping silently would lose money. The block is loud: logged at ERROR, counted in
``status()`` and listed by ``ykt federation dead-letters list``. Other streams and other senders
are not affected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yikatong import __version__
from yikatong.core import clock, outbox
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.federation.envelope import Envelope, EnvelopeRejected, rejected, verify
from yikatong.federation.league import League, LeagueInvalid, canonical_json, load_league
from yikatong.federation.models import (
    DeadLetter,
    InboxMessage,
    InboxStream,
    Note,
    OutboxMessage,
    Peer,
    Rejection,
)
from yikatong.node import Node

log = logging.getLogger("yikatong.federation")

Handler = Callable[[Session, Envelope], None]
_handlers: dict[str, Handler] = {}


def register_handler(payload_type: str, handler: Handler) -> None:
    """Apply envelopes of ``payload_type`` with ``handler(session, envelope)``.

    The handler runs inside the transaction that records the inbox row, under a savepoint: if it
    raises, its writes are undone and the message is dead-lettered. Register at import time of
    the owning domain's service module (one handler per payload type).
    """
    existing = _handlers.get(payload_type)
    if existing is not None and existing is not handler:
        raise Conflict(f"payload type {payload_type!r} already has a handler ({existing!r})")
    _handlers[payload_type] = handler


def handler_for(payload_type: str) -> Handler | None:
    return _handlers.get(payload_type)


# --- The league this node belongs to ------------------------------------------------------------

_league_cache: dict[Path, tuple[float, League]] = {}


def league_of(node: Node) -> League:
    """The verified league file named by ``YKT_LEAGUE_FILE`` (reloaded when the file changes)."""
    path = node.settings.league_file
    if path is None:
        raise LeagueInvalid(
            "this node is not in a league: set YKT_LEAGUE_FILE to the signed league file"
        )
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise LeagueInvalid(f"the league file {path} does not exist") from None
    cached = _league_cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    league = load_league(path, pin_path=node.settings.keys_dir / "league-operator.json")
    if league.member(node.city_code) is None:
        raise LeagueInvalid(f"city {node.city_code} is not a member of the league {league.name}")
    _league_cache[path] = (mtime, league)
    return league


# --- Sending ---------------------------------------------------------------------------------


def send(
    session: Session, receiver: str, stream: str, payload_type: str, body: dict[str, Any]
) -> str:
    """Queue a message to another city in the caller's transaction; returns its message id."""
    return outbox.enqueue(session, receiver, stream, payload_type, body)


def send_note(session: Session, receiver: str, text: str, *, stream: str = "notes") -> str:
    """Queue a free-text note (payload type ``note``) to another city."""
    text = text.strip()
    if not text or len(text) > 2000:
        raise InvalidInput("a note needs 1–2000 characters of text", field="text")
    return send(session, receiver, stream, "note", {"text": text})


def send_hello(session: Session, receiver: str, *, city_name: str) -> str:
    """Queue a ``node.hello``: the peer records when it last heard from us and with which key."""
    return send(
        session, receiver, "control", "node.hello", {"name": city_name, "version": __version__}
    )


# --- Receiving -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """What the inbox did with an envelope: applied, queued (ahead of a gap or behind a blocked
    message), dead-lettered, or duplicate (already received; nothing done)."""

    status: str
    message_id: str
    applied: int = 0


def accept_envelope(node: Node, data: Any, *, remote_addr: str | None = None) -> Receipt:
    """The inbox: authenticate ``data`` (no transaction open), then store and apply it.

    A rejection is logged in a transaction of its own (the request's work is rolled back) and
    re-raised as :class:`EnvelopeRejected` carrying the reason code.
    """
    try:
        league = league_of(node)
        envelope = verify(
            data,
            trust=league.trust,
            members=league.cities,
            own_city=node.city_code,
            now=clock.now(),
        )
        with node.transaction() as session:
            return receive(session, envelope, remote_addr=remote_addr)
    except EnvelopeRejected as exc:
        with node.transaction() as session:
            record_rejection(session, exc, remote_addr=remote_addr)
        raise


def _content_digest(wire: dict[str, Any]) -> str:
    """What a message says, without what each delivery attempt re-signs."""
    content = {k: v for k, v in wire.items() if k not in ("signature", "created_at", "key_id")}
    return hashlib.sha256(canonical_json(content)).hexdigest()


def receive(session: Session, envelope: Envelope, *, remote_addr: str | None = None) -> Receipt:
    """Store an authenticated envelope and apply whatever is now in order for its stream."""
    now = clock.now()
    cursor = _cursor(session, envelope.sender, envelope.stream)
    existing = session.scalars(
        select(InboxMessage).where(InboxMessage.message_id == envelope.message_id)
    ).one_or_none()
    if existing is not None:
        if _content_digest(existing.envelope) != _content_digest(envelope.to_wire()):
            raise rejected(
                "replayed",
                f"message {envelope.message_id} was already received with different content",
                sender=envelope.sender,
                message_id=envelope.message_id,
                key_id=envelope.key_id,
            )
        # A retry after a lost acknowledgement: answer as before, change nothing.
        record_rejection(
            session,
            rejected(
                "replayed",
                f"duplicate of message {envelope.message_id} (status {existing.status})",
                sender=envelope.sender,
                message_id=envelope.message_id,
                key_id=envelope.key_id,
            ),
            remote_addr=remote_addr,
        )
        return Receipt("duplicate", envelope.message_id)
    if envelope.seq < cursor.next_seq:
        raise rejected(
            "sequence-conflict",
            f"{envelope.sender}/{envelope.stream} seq {envelope.seq} was already taken by "
            f"another message; the sender's outbox was reset or forked",
            sender=envelope.sender,
            message_id=envelope.message_id,
            key_id=envelope.key_id,
        )
    clash = session.scalars(
        select(InboxMessage.message_id).where(
            InboxMessage.sender == envelope.sender,
            InboxMessage.stream == envelope.stream,
            InboxMessage.seq == envelope.seq,
        )
    ).one_or_none()
    if clash is not None:
        raise rejected(
            "sequence-conflict",
            f"{envelope.sender}/{envelope.stream} seq {envelope.seq} is held by message {clash}",
            sender=envelope.sender,
            message_id=envelope.message_id,
            key_id=envelope.key_id,
        )
    session.add(
        InboxMessage(
            message_id=envelope.message_id,
            sender=envelope.sender,
            stream=envelope.stream,
            seq=envelope.seq,
            payload_type=envelope.payload_type,
            envelope=envelope.to_wire(),
            received_at=now,
            status="pending",
        )
    )
    _seen(session, envelope, now)
    session.flush()
    applied = _drain(session, cursor)
    row = session.scalars(
        select(InboxMessage).where(InboxMessage.message_id == envelope.message_id)
    ).one()
    status = {"applied": "applied", "dead": "dead-lettered"}.get(row.status, "queued")
    return Receipt(status, envelope.message_id, applied)


def _cursor(session: Session, sender: str, stream: str) -> InboxStream:
    """The (sender, stream) cursor, locked for this transaction (created on first contact)."""
    query = (
        select(InboxStream)
        .where(InboxStream.sender == sender, InboxStream.stream == stream)
        .with_for_update()
    )
    for _ in range(2):
        cursor = session.scalars(query).one_or_none()
        if cursor is not None:
            return cursor
        try:
            with session.begin_nested():
                session.add(InboxStream(sender=sender, stream=stream, next_seq=1))
        except IntegrityError:
            continue
    return session.scalars(query).one()


def _seen(session: Session, envelope: Envelope, now: dt.datetime) -> None:
    peer = session.get(Peer, envelope.sender, with_for_update=True)
    if peer is None:
        try:
            with session.begin_nested():
                session.add(
                    Peer(city_code=envelope.sender, last_seen_at=now, key_id=envelope.key_id)
                )
            return
        except IntegrityError:
            peer = session.get(Peer, envelope.sender, with_for_update=True)
            assert peer is not None
    peer.last_seen_at = now
    peer.key_id = envelope.key_id


def _drain(session: Session, cursor: InboxStream) -> int:
    """Apply the stored messages of a stream in order until a gap or a failure; count applied."""
    applied = 0
    while cursor.blocked_by is None:
        row = session.scalars(
            select(InboxMessage).where(
                InboxMessage.sender == cursor.sender,
                InboxMessage.stream == cursor.stream,
                InboxMessage.seq == cursor.next_seq,
            )
        ).one_or_none()
        if row is None:
            break
        error = _apply(session, row)
        if error is not None:
            _dead_letter(session, row, error)
            cursor.blocked_by = row.id
            break
        cursor.next_seq += 1
        applied += 1
    session.flush()
    return applied


def _apply(session: Session, row: InboxMessage) -> str | None:
    """Run the handler under a savepoint; on failure undo its writes and return the error."""
    handler = _handlers.get(row.payload_type)
    if handler is None:
        return (
            f"no handler for payload type {row.payload_type!r} on this node; upgrade the node "
            "and replay, or discard"
        )
    envelope = Envelope.from_wire(row.envelope)
    try:
        with session.begin_nested():
            handler(session, envelope)
    except Exception as exc:  # a handler may fail in any way; the message must not be lost
        return f"{type(exc).__name__}: {exc}"
    row.status = "applied"
    row.applied_at = clock.now()
    return None


def _dead_letter(session: Session, row: InboxMessage, error: str) -> None:
    row.status = "dead"
    letter = session.scalars(select(DeadLetter).where(DeadLetter.inbox_id == row.id)).one_or_none()
    if letter is None:
        session.add(
            DeadLetter(
                inbox_id=row.id,
                sender=row.sender,
                stream=row.stream,
                seq=row.seq,
                message_id=row.message_id,
                payload_type=row.payload_type,
                error=error[:4000],
                failed_at=clock.now(),
                attempts=1,
                status="open",
            )
        )
    else:
        letter.error = error[:4000]
        letter.failed_at = clock.now()
        letter.attempts += 1
    log.error(
        "federation stream %s/%s is blocked at seq %d: message %s (%s) failed: %s",
        row.sender,
        row.stream,
        row.seq,
        row.message_id,
        row.payload_type,
        error,
    )


def record_rejection(
    session: Session, exc: EnvelopeRejected, *, remote_addr: str | None = None
) -> Rejection:
    """Log a refused envelope (call in its own transaction when the request itself fails)."""
    entry = Rejection(
        at=clock.now(),
        reason=exc.reason,
        sender=(exc.sender or "")[:64] or None,
        message_id=(exc.message_id or "")[:64] or None,
        key_id=(exc.key_id or "")[:64] or None,
        remote_addr=remote_addr,
        detail=exc.detail[:2000],
    )
    session.add(entry)
    session.flush()
    if exc.reason != "replayed":
        log.warning("federation envelope rejected (%s): %s", exc.reason, exc.detail)
    return entry


def rejections(session: Session, *, reason: str | None = None, limit: int = 100) -> list[Rejection]:
    query = select(Rejection).order_by(Rejection.id.desc()).limit(limit)
    if reason:
        query = query.where(Rejection.reason == reason)
    return list(session.scalars(query))


# --- Dead letters (operator) ----------------------------------------------------------------


def dead_letters(session: Session, *, status: str | None = "open") -> list[DeadLetter]:
    query = select(DeadLetter).order_by(DeadLetter.id)
    if status:
        if status not in ("open", "replayed", "discarded"):
            raise InvalidInput("status must be open, replayed or discarded", field="status")
        query = query.where(DeadLetter.status == status)
    return list(session.scalars(query))


def get_dead_letter(session: Session, letter_id: int) -> DeadLetter:
    letter = session.get(DeadLetter, letter_id)
    if letter is None:
        raise NotFound(f"no dead letter {letter_id}; list them with 'ykt federation dead-letters'")
    return letter


def dead_letter_envelope(session: Session, letter: DeadLetter) -> dict[str, Any]:
    row = session.get(InboxMessage, letter.inbox_id)
    assert row is not None
    return row.envelope


def _open_letter(session: Session, letter_id: int) -> tuple[DeadLetter, InboxMessage, InboxStream]:
    letter = get_dead_letter(session, letter_id)
    if letter.status != "open":
        raise Conflict(f"dead letter {letter_id} is already {letter.status}")
    row = session.get(InboxMessage, letter.inbox_id)
    assert row is not None
    cursor = _cursor(session, row.sender, row.stream)
    return letter, row, cursor


def replay_dead_letter(session: Session, letter_id: int, *, actor: str) -> DeadLetter:
    """Run the failed message's handler again; on success unblock and drain its stream.

    If it fails again the letter stays open with the new error and a higher attempt count.
    """
    letter, row, cursor = _open_letter(session, letter_id)
    error = _apply(session, row)
    if error is not None:
        _dead_letter(session, row, error)
        session.flush()
        return letter
    letter.status = "replayed"
    letter.resolved_at = clock.now()
    letter.resolved_by = actor
    letter.resolution = "handler succeeded on replay"
    cursor.blocked_by = None
    cursor.next_seq = row.seq + 1
    _drain(session, cursor)
    return letter


def discard_dead_letter(session: Session, letter_id: int, *, actor: str, reason: str) -> DeadLetter:
    """Give up on a message (it stays stored as evidence) and let its stream continue."""
    if not reason.strip():
        raise InvalidInput("say why the message is discarded", field="reason")
    letter, row, cursor = _open_letter(session, letter_id)
    row.status = "discarded"
    letter.status = "discarded"
    letter.resolved_at = clock.now()
    letter.resolved_by = actor
    letter.resolution = reason.strip()[:200]
    cursor.blocked_by = None
    cursor.next_seq = row.seq + 1
    log.warning(
        "federation message %s (%s/%s seq %d) discarded by %s: %s",
        row.message_id,
        row.sender,
        row.stream,
        row.seq,
        actor,
        letter.resolution,
    )
    _drain(session, cursor)
    return letter


# --- Status ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamState:
    sender: str
    stream: str
    next_seq: int
    blocked_by_seq: int | None
    waiting: int


@dataclass(frozen=True)
class FederationStatus:
    outbox_pending: int
    outbox_failing: int
    open_dead_letters: int
    peers: list[Peer]
    inbound: list[StreamState]


def status(session: Session) -> FederationStatus:
    pending = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
    )
    failing = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.attempts > 0)
    )
    open_letters = session.scalar(
        select(func.count()).select_from(DeadLetter).where(DeadLetter.status == "open")
    )
    streams = []
    for cursor in session.scalars(
        select(InboxStream).order_by(InboxStream.sender, InboxStream.stream)
    ):
        blocked = session.get(InboxMessage, cursor.blocked_by) if cursor.blocked_by else None
        waiting = session.scalar(
            select(func.count())
            .select_from(InboxMessage)
            .where(
                InboxMessage.sender == cursor.sender,
                InboxMessage.stream == cursor.stream,
                InboxMessage.status == "pending",
            )
        )
        streams.append(
            StreamState(
                cursor.sender,
                cursor.stream,
                cursor.next_seq,
                blocked.seq if blocked else None,
                int(waiting or 0),
            )
        )
    return FederationStatus(
        outbox_pending=int(pending or 0),
        outbox_failing=int(failing or 0),
        open_dead_letters=int(open_letters or 0),
        peers=list(session.scalars(select(Peer).order_by(Peer.city_code))),
        inbound=streams,
    )


def notes(session: Session, *, sender: str | None = None, limit: int = 1000) -> list[Note]:
    query = select(Note).order_by(Note.id).limit(limit)
    if sender:
        query = query.where(Note.sender == sender)
    return list(session.scalars(query))


# --- Built-in payload types ----------------------------------------------------------------------


def _apply_hello(session: Session, envelope: Envelope) -> None:
    peer = session.get(Peer, envelope.sender)
    assert peer is not None  # receive() records every sender before applying
    peer.hello_at = clock.now()
    name = envelope.body.get("name")
    version = envelope.body.get("version")
    peer.name = str(name)[:32] if name is not None else None
    peer.software_version = str(version)[:32] if version is not None else None


def _apply_note(session: Session, envelope: Envelope) -> None:
    text = envelope.body.get("text")
    if not isinstance(text, str) or not text:
        raise ValueError("a note body needs a non-empty 'text'")
    session.add(
        Note(
            sender=envelope.sender,
            stream=envelope.stream,
            seq=envelope.seq,
            message_id=envelope.message_id,
            text=text,
            received_at=clock.now(),
        )
    )
    session.flush()


register_handler("node.hello", _apply_hello)
register_handler("note", _apply_note)
