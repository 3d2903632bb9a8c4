"""Acquiring (收单): merchants, terminals, online authorisation, offline uploads, clearing.

Money flow (all ledger transfers, each with an idempotency key)::

    tap         card purse ──────────▶ merchant:<code>:acq      key tap:<terminal>:<seq>
    reversal    merchant:<code>:acq ─▶ card purse               key tap-reversal:<tap id>
    clearing    merchant:<code>:acq ─▶ merchant:<code>:settle   key clearing:<code>:<date>

Bus and metro taps debit the card's transport purse (交通账户); other merchants debit the card's
financial account (金融账户, bank "闪付"). The price of a tap is not decided here: callers pass a
``Pricer`` (transit passes its fare policy, a shop passes the amount it keyed in).

Terminal requests are signed by the terminal's own key (Ed25519 or SM2) over the request body,
the time and a strictly increasing request sequence; see ``signing_message``.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import functools
import io
import operator
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import (
    CursorResult,
    Date,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.expression import ColumnElement, CompoundSelect

from yikatong.acquiring.models import (
    TRANSIT_KINDS,
    CardRideDay,
    ClearingRun,
    FareAdjustment,
    Merchant,
    MerchantKind,
    Tap,
    TapChannel,
    TapStatus,
    Terminal,
    TerminalState,
    UploadBatch,
)
from yikatong.cards import service as cards_service
from yikatong.core import clock, db
from yikatong.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from yikatong.core.ids import parse_card_number
from yikatong.crypto import ed25519, sm2
from yikatong.crypto.sm3 import sm3
from yikatong.essc import service as essc_service
from yikatong.essc.tokens import Level, TokenRejected
from yikatong.ledger import service as ledger

__all__ = [
    "MAX_BATCH",
    "MAX_FILE",
    "REQUEST_SKEW",
    "TRANSIT_KINDS",
    "CardIdentity",
    "CardRides",
    "ClearingRun",
    "Merchant",
    "MerchantKind",
    "OfflineTap",
    "Priced",
    "Pricer",
    "ReconciliationRow",
    "RideRow",
    "Tap",
    "TapChannel",
    "TapStatus",
    "TapWindow",
    "Terminal",
    "TerminalUpload",
    "UploadResult",
    "UploadRow",
    "authenticate_terminal",
    "authorise",
    "card_account",
    "card_debts",
    "clearing_csv",
    "collect_debts",
    "decline",
    "get_merchant",
    "get_tap",
    "get_terminal",
    "ingest_offline",
    "ingest_offline_file",
    "list_clearing_runs",
    "list_merchants",
    "list_terminals",
    "list_uploads",
    "local_date",
    "merchant_of",
    "reconcile",
    "register_merchant",
    "register_terminal",
    "retire_terminal",
    "reverse_tap",
    "ride_days_disagreeing",
    "ride_history_of_card",
    "ride_history_of_cards",
    "ride_life_signs",
    "rides_of_card",
    "run_clearing",
    "sign_request",
    "signing_message",
    "taps_of_resident",
]

# A signed request must be made within this window of the server's clock: a protocol constant of
# the terminal interface (like a TLS handshake timeout), not a city's policy number.
REQUEST_SKEW = dt.timedelta(minutes=5)
# Offline taps older than this are refused at upload: terminals must upload at least weekly.
OFFLINE_MAX_AGE = dt.timedelta(days=30)
MAX_BATCH = 50_000  # taps of one terminal's upload
MAX_FILE = 200_000  # taps of an operator's file taken in one transaction
_CODE = re.compile(r"[a-z0-9][a-z0-9-]{1,31}")
_TERMINAL_NO = re.compile(r"[A-Z0-9][A-Z0-9-]{3,31}")
_ALGORITHMS = ("Ed25519", "SM2")
_LOCAL = dt.timezone(dt.timedelta(hours=8))
_COMMITTED = (TapStatus.APPROVED, TapStatus.REVERSED)
Purse = Literal["fin", "transport"]


def local_date(at: dt.datetime) -> dt.date:
    """The business date of an instant: the calendar date in China (UTC+8)."""
    return at.astimezone(_LOCAL).date()


# --------------------------------------------------------------------------- merchants


def register_merchant(session: Session, *, code: str, name: str, kind: MerchantKind) -> Merchant:
    """Register a merchant/operator and open its two ledger accounts."""
    code = code.strip()
    if not _CODE.fullmatch(code):
        raise InvalidInput(
            "a merchant code is 2–32 lower-case letters, digits or '-', e.g. qd-bus", field="code"
        )
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("give the merchant's name (1–200 characters)", field="name")
    if session.scalar(select(Merchant.id).where(Merchant.code == code)) is not None:
        raise Conflict(f"merchant {code} already exists; choose another code", code=code)
    acquired = ledger.open_account(
        session,
        code=f"merchant:{code}:acq",
        kind=ledger.AccountKind.CLEARING,
        name=f"{name} — taps not yet cleared",
        owner_type="merchant",
        owner_id=code,
        # A reversal after clearing nets against the next clearing, so this may dip below zero.
        debits_must_not_exceed_credits=False,
    )
    settlement = ledger.open_account(
        session,
        code=f"merchant:{code}:settle",
        kind=ledger.AccountKind.MERCHANT_SETTLEMENT,
        name=f"{name} — cleared, owed to the merchant",
        owner_type="merchant",
        owner_id=code,
    )
    merchant = Merchant(
        code=code,
        name=name,
        kind=kind,
        acquired_account_id=acquired.id,
        settlement_account_id=settlement.id,
        created_at=clock.now(),
    )
    session.add(merchant)
    session.flush()
    return merchant


def get_merchant(session: Session, code: str) -> Merchant:
    merchant = session.scalar(select(Merchant).where(Merchant.code == code))
    if merchant is None:
        raise NotFound(f"no merchant {code!r}; list them with `ykt terminal merchants`")
    return merchant


def list_merchants(session: Session) -> list[Merchant]:
    return list(session.scalars(select(Merchant).order_by(Merchant.id)))


# --------------------------------------------------------------------------- terminals


def register_terminal(
    session: Session,
    *,
    terminal_no: str,
    merchant_code: str,
    algorithm: str = "Ed25519",
    public_key: bytes | None = None,
    line: str | None = None,
) -> tuple[Terminal, bytes | None]:
    """Register a terminal; without ``public_key`` a key pair is made and the private key is
    returned once (never stored here — load it into the device)."""
    terminal_no = terminal_no.strip().upper()
    if not _TERMINAL_NO.fullmatch(terminal_no):
        raise InvalidInput(
            "a terminal number is 4–32 upper-case letters, digits or '-', e.g. BUS-0001",
            field="terminal_no",
        )
    if algorithm not in _ALGORITHMS:
        raise InvalidInput("algorithm must be Ed25519 or SM2", field="algorithm")
    if line is not None and not 1 <= len(line.strip()) <= 32:
        raise InvalidInput("a line is 1–32 characters", field="line")
    merchant = get_merchant(session, merchant_code)
    private: bytes | None = None
    if public_key is None:
        if algorithm == "SM2":
            private, public_key = sm2.generate_keypair()
            private = private + public_key  # SM2 signing needs both halves
        else:
            private, public_key = ed25519.generate_keypair()
    expected = ed25519.PUBLIC_KEY_BYTES if algorithm == "Ed25519" else sm2.PUBLIC_KEY_BYTES
    if len(public_key) != expected:
        raise InvalidInput(
            f"an {algorithm} public key is {expected} bytes (hex {expected * 2} characters)",
            field="public_key",
        )
    if session.scalar(select(Terminal.id).where(Terminal.terminal_no == terminal_no)) is not None:
        raise Conflict(f"terminal {terminal_no} is already registered", terminal_no=terminal_no)
    terminal = Terminal(
        terminal_no=terminal_no,
        merchant_id=merchant.id,
        line=line.strip() if line else None,
        algorithm=algorithm,
        public_key=public_key,
        state=TerminalState.ACTIVE,
        last_request_seq=0,
        registered_at=clock.now(),
    )
    session.add(terminal)
    session.flush()
    return terminal, private


def get_terminal(session: Session, terminal_no: str) -> Terminal:
    terminal = session.scalar(
        select(Terminal).where(Terminal.terminal_no == terminal_no.strip().upper())
    )
    if terminal is None:
        raise NotFound(f"no terminal {terminal_no!r}; list them with `ykt terminal list`")
    return terminal


def list_terminals(session: Session, *, merchant_code: str | None = None) -> list[Terminal]:
    query = select(Terminal).order_by(Terminal.id)
    if merchant_code is not None:
        query = query.where(Terminal.merchant_id == get_merchant(session, merchant_code).id)
    return list(session.scalars(query))


def retire_terminal(session: Session, terminal_no: str) -> Terminal:
    """Take a terminal out of service: its signature is refused from now on."""
    terminal = get_terminal(session, terminal_no)
    terminal.state = TerminalState.RETIRED
    session.flush()
    return terminal


def merchant_of(session: Session, terminal: Terminal) -> Merchant:
    merchant = session.get(Merchant, terminal.merchant_id)
    assert merchant is not None  # foreign key
    return merchant


def signing_message(
    *, terminal_no: str, timestamp: int, seq: int, method: str, path: str, body: bytes
) -> bytes:
    """What a terminal signs: its number, the time (Unix seconds), its request sequence, the
    method, the path and the SM3 digest of the exact body bytes."""
    return b"\n".join(
        (
            b"YKT-TERMINAL-1",
            terminal_no.encode(),
            str(timestamp).encode(),
            str(seq).encode(),
            method.upper().encode(),
            path.encode(),
            sm3(body).hex().encode(),
        )
    )


def sign_request(
    private_key: bytes,
    algorithm: str,
    *,
    terminal_no: str,
    timestamp: int,
    seq: int,
    method: str,
    path: str,
    body: bytes,
) -> str:
    """The terminal side of ``authenticate_terminal`` (devices, tests, the demo): hex signature."""
    message = signing_message(
        terminal_no=terminal_no, timestamp=timestamp, seq=seq, method=method, path=path, body=body
    )
    if algorithm == "SM2":
        private, public = private_key[: sm2.PRIVATE_KEY_BYTES], private_key[sm2.PRIVATE_KEY_BYTES :]
        return sm2.sign(private, public, message).hex()
    return ed25519.sign(private_key, message).hex()


# The statements of every terminal request, built once.
# The terminal with its merchant: every terminal request needs both (``merchant_of`` then
# finds the merchant in the session instead of asking the database).
_TERMINAL_BY_NO = (
    select(Terminal, Merchant)
    .join(Merchant, Merchant.id == Terminal.merchant_id)
    .where(Terminal.terminal_no == bindparam("terminal_no"))
)
# Of two requests with the same sequence only one can win. A plain table statement: the ORM's
# UPDATE of the entity, reading the whole terminal back, took a third of the authentication.
_TERMINALS = cast(Table, Terminal.__table__)
_CONSUME_SEQ = (
    update(_TERMINALS)
    .where(
        _TERMINALS.c.id == bindparam("terminal_id"),
        _TERMINALS.c.last_request_seq < bindparam("seq"),
    )
    .values(last_request_seq=bindparam("seq"))
    .returning(_TERMINALS.c.state)
)


def _not_in_service(terminal_no: str) -> Unauthorized:
    return Unauthorized(f"terminal {terminal_no} is not registered or has been retired")


def require_signature_headers(*values: str | None) -> None:
    """Unauthorized unless a terminal request carries all four signature headers."""
    if not all(values):
        raise Unauthorized(
            "terminal requests carry X-Terminal, X-Timestamp, X-Sequence and X-Signature headers"
        )


def authenticate_terminal(
    session: Session,
    *,
    terminal_no: str | None,
    timestamp: str | None,
    seq: str | None,
    signature: str | None,
    method: str,
    path: str,
    body: bytes,
) -> Terminal:
    """Check a terminal's signed request and consume its sequence number (no replay).

    Raises Unauthorized naming what is wrong; nothing else is changed when it raises.
    """
    require_signature_headers(terminal_no, timestamp, seq, signature)
    assert terminal_no is not None and timestamp is not None and seq is not None
    assert signature is not None
    try:
        ts, sequence, sig = int(timestamp), int(seq), bytes.fromhex(signature)
    except ValueError:
        raise Unauthorized("X-Timestamp and X-Sequence are integers, X-Signature is hex") from None
    found = session.execute(_TERMINAL_BY_NO, {"terminal_no": terminal_no.strip().upper()}).first()
    if found is None or found[0].state is not TerminalState.ACTIVE:
        raise _not_in_service(terminal_no)
    terminal, merchant = found
    # A session holds what it has read only while something else refers to it: kept here, the
    # merchant read with the terminal is what ``merchant_of`` finds for the rest of the request.
    session.info[(Merchant, merchant.id)] = merchant
    now = clock.now()
    if abs(now.timestamp() - ts) > REQUEST_SKEW.total_seconds():
        raise Unauthorized(
            f"the request time {ts} is more than {int(REQUEST_SKEW.total_seconds())} s from the "
            f"server's ({int(now.timestamp())}); set the terminal's clock"
        )
    message = signing_message(
        terminal_no=terminal.terminal_no,
        timestamp=ts,
        seq=sequence,
        method=method,
        path=path,
        body=body,
    )
    if terminal.algorithm == "SM2":
        valid = sm2.verify(terminal.public_key, message, sig)
    else:
        valid = ed25519.verify(terminal.public_key, message, sig)
    if not valid:
        raise Unauthorized(f"the signature of terminal {terminal.terminal_no} does not verify")
    # Conditional update: of two requests with the same sequence only one can win. The winner
    # holds the terminal's row locked from here on, and reads its state back as updated (a
    # terminal retired meanwhile is refused).
    state = session.execute(
        _CONSUME_SEQ, {"terminal_id": terminal.id, "seq": sequence}
    ).scalar_one_or_none()
    if state is None:
        raise Unauthorized(
            f"request sequence {sequence} was already used by terminal {terminal.terminal_no}; "
            "send a larger one",
            last_sequence=terminal.last_request_seq,
        )
    set_committed_value(terminal, "last_request_seq", sequence)
    set_committed_value(terminal, "state", state)
    if state is not TerminalState.ACTIVE:
        raise _not_in_service(terminal_no)
    return terminal


# --------------------------------------------------------------------------- cards


@dataclass(frozen=True, slots=True)
class CardIdentity:
    card_no: str
    card_ref: str
    resident_id: int
    state: str
    # Online: the card as read with its holder's category facts, so that a pricer needs no
    # second read of the card (None for QR codes and offline taps).
    holding: cards_service.CardHolding | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Priced:
    """The amount to charge (fen, ≥ 0) and how it was arrived at (stored with the tap)."""

    amount: int
    details: dict[str, Any] = field(default_factory=dict)


# Given the terminal, the card, the time of the tap and the tap's own details, the amount to
# charge.
Pricer = Callable[[Session, Terminal, CardIdentity, dt.datetime, dict[str, Any]], Priced]


class _Decline(Exception):
    def __init__(self, reason: str, identity: CardIdentity | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.identity = identity


def card_account(session: Session, card_no: str, purse: Purse) -> int:
    """Ledger account id of a card's financial (``fin``) or transport purse, opened on first use."""
    kind = _purse_kind(purse)
    code = f"card:{card_no}:{purse}"
    found = ledger.existing_account_id(
        session, code, kind=kind, owner_type="card", owner_id=card_no
    )
    if found is not None:
        return found
    account = ledger.open_account(
        session,
        code=code,
        kind=kind,
        name=f"card {card_no} {'transport purse' if purse == 'transport' else 'financial account'}",
        owner_type="card",
        owner_id=card_no,
        exist_ok=True,
    )
    return account.id


def card_accounts(session: Session, card_nos: Iterable[str], purse: Purse) -> dict[str, int]:
    """``card_account`` of many cards: the existing purses read at once, the rest opened."""
    numbers = list(dict.fromkeys(card_nos))
    existing = ledger.existing_account_ids(
        session,
        {f"card:{n}:{purse}": n for n in numbers},
        kind=_purse_kind(purse),
        owner_type="card",
    )
    return {
        n: existing.get(f"card:{n}:{purse}") or card_account(session, n, purse) for n in numbers
    }


def _purse_kind(purse: Purse) -> ledger.AccountKind:
    if purse == "transport":
        return ledger.AccountKind.CARD_TRANSPORT
    return ledger.AccountKind.CARD_FINANCIAL


def _identity_of_card(session: Session, card_no: str) -> CardIdentity:
    try:
        card = cards_service.get_card_holding(session, card_no)
    except (NotFound, InvalidInput):
        raise _Decline("unknown-card") from None
    identity = CardIdentity(card.card_no, card.card_ref, card.resident_id, str(card.state), card)
    if card.state != "active":
        raise _Decline(f"card-{card.state}", identity)
    return identity


def _identity_of_code(session: Session, text: str) -> CardIdentity:
    try:
        verdict = essc_service.verify_online(session, text)
    except TokenRejected as rejected:
        raise _Decline(f"qr-{rejected.reason.value}") from None
    card = cards_service.get_card_by_ref(session, verdict.claims.card_ref)
    identity = CardIdentity(card.card_no, card.card_ref, card.resident_id, str(card.state))
    if verdict.claims.level is not Level.L2:
        raise _Decline("qr-not-payment", identity)  # an L1 code proves identity, it cannot pay
    return identity


# --------------------------------------------------------------------------- authorisation


def _purse_of(merchant: Merchant) -> Purse:
    return "transport" if merchant.kind in TRANSIT_KINDS else "fin"


_TAPS = cast(Table, Tap.__table__)
_MERCHANTS = cast(Table, Merchant.__table__)
_RIDE_DAYS = cast(Table, CardRideDay.__table__)
_RIDES = (TapStatus.APPROVED, TapStatus.DEBT)  # taps that count as rides (charged or owed)
# Adds to a card's day total, creating it at the first ride (both backends' upsert).
_ADD_TO_RIDE_DAY = (
    "INSERT INTO acquiring_card_ride_day (card_no, business_date, fare) VALUES (?, ?, ?) "
    "ON CONFLICT (card_no, business_date) "
    "DO UPDATE SET fare = acquiring_card_ride_day.fare + excluded.fare"
)
# Statements of the online path, built once (SQLAlchemy then reuses their compiled form).
_TAP_AT = select(_TAPS.c.id).where(
    _TAPS.c.terminal_id == bindparam("terminal_id"), _TAPS.c.terminal_seq == bindparam("seq")
)
_LOCK_TERMINAL = (
    select(_TERMINALS.c.id).where(_TERMINALS.c.id == bindparam("terminal_id")).with_for_update()
)
_INSERT_TAP = insert(_TAPS)


def _existing_tap(session: Session, terminal: Terminal, seq: int) -> Tap | None:
    found = session.execute(_TAP_AT, {"terminal_id": terminal.id, "seq": seq}).scalar()
    return None if found is None else session.get(Tap, found)


def _lock_terminal(session: Session, terminal: Terminal) -> None:
    """One request of a terminal at a time: a retried tap waits for the first to commit and then
    finds it, instead of racing it to the unique (terminal, sequence) index. On SQLite the
    transaction has held the database's only write lock since it began (``BEGIN IMMEDIATE``):
    one request of any terminal at a time already."""
    if session.get_bind().dialect.name != "sqlite":
        session.execute(_LOCK_TERMINAL, {"terminal_id": terminal.id})


def _check_seq(seq: int, field_name: str = "terminal_seq") -> None:
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq < 2**62:
        raise InvalidInput("the terminal sequence is a positive integer", field=field_name)


def authorise(
    session: Session,
    terminal: Terminal,
    *,
    terminal_seq: int,
    card_no: str | None = None,
    qr: str | None = None,
    details: dict[str, Any] | None = None,
    price: Pricer,
) -> Tap:
    """Online authorisation (联机授权) of a card tap or an e-SSC L2 code scan.

    Answers the recorded tap: ``approved`` (charged) or ``declined`` with a reason code
    (``unknown-card``, ``card-suspended``…, ``qr-expired``…, ``insufficient-funds``, or a
    pricing rule's reason). A retry with the same terminal sequence answers the first outcome.
    """
    _check_seq(terminal_seq)
    if (card_no is None) == (qr is None):
        raise InvalidInput("present either a card number or a QR code, not both", field="card_no")
    _lock_terminal(session, terminal)
    existing = _existing_tap(session, terminal, terminal_seq)
    if existing is not None:
        if card_no is not None and existing.card_no not in (None, card_no.strip().upper()):
            raise Conflict(
                f"terminal sequence {terminal_seq} was already used for another card",
                tap_id=existing.id,
            )
        return existing
    merchant = merchant_of(session, terminal)
    now = clock.now()
    tap_details = dict(details or {})
    identity: CardIdentity | None = None
    try:
        identity = (
            _identity_of_card(session, card_no)
            if card_no is not None
            else _identity_of_code(session, cast(str, qr))
        )
        priced = price(session, terminal, identity, now, tap_details)
    except _Decline as decline:
        return _record(
            session,
            terminal,
            merchant,
            terminal_seq,
            decline.identity or identity,
            now,
            Priced(0, tap_details),
            TapStatus.DECLINED,
            decline.reason,
            TapChannel.ONLINE,
        )
    tap_details.update(priced.details)
    priced = Priced(priced.amount, tap_details)
    status, reason, transfer = TapStatus.APPROVED, "ok", None
    if priced.amount > 0:
        try:
            transfer = _charge(
                session, terminal, merchant, terminal_seq, identity, priced.amount, now
            )
        except ledger.InsufficientFunds:
            status, reason = TapStatus.DECLINED, "insufficient-funds"
    return _record(
        session,
        terminal,
        merchant,
        terminal_seq,
        identity,
        now,
        priced,
        status,
        reason,
        TapChannel.ONLINE,
        transfer_id=transfer,
    )


def _charge(
    session: Session,
    terminal: Terminal,
    merchant: Merchant,
    seq: int,
    identity: CardIdentity,
    amount: int,
    at: dt.datetime,
) -> int:
    purse = card_account(session, identity.card_no, _purse_of(merchant))
    transfer = ledger.post_transfer(
        session,
        ledger.TransferRequest(
            idempotency_key=f"tap:{terminal.terminal_no}:{seq}",
            debit_account_id=purse,
            credit_account_id=merchant.acquired_account_id,
            amount=amount,
            metadata={"tap": f"{terminal.terminal_no}:{seq}", "at": at.isoformat()},
        ),
    )
    return transfer.id


def _record(
    session: Session,
    terminal: Terminal,
    merchant: Merchant,
    seq: int,
    identity: CardIdentity | None,
    at: dt.datetime,
    priced: Priced,
    status: TapStatus,
    reason: str,
    channel: TapChannel,
    *,
    transfer_id: int | None = None,
    upload_id: int | None = None,
) -> Tap:
    values: dict[str, Any] = {
        "terminal_id": terminal.id,
        "terminal_seq": seq,
        "merchant_id": merchant.id,
        "channel": channel,
        "card_no": identity.card_no if identity else None,
        "card_ref": identity.card_ref if identity else None,
        "resident_id": identity.resident_id if identity else None,
        "tapped_at": at,
        "business_date": local_date(at),
        "amount": priced.amount,
        "refunded": 0,
        "status": status,
        "reason": reason,
        "transfer_id": transfer_id,
        "upload_id": upload_id,
        "details": priced.details,
        "recorded_at": clock.now(),
        "cleared_run_id": None,
        "reversal_transfer_id": None,
        "reversed_at": None,
        "reversal_date": None,
        "reversal_run_id": None,
    }
    # One INSERT instead of a unit-of-work flush; the Tap is attached as if read back.
    result = cast(CursorResult[Any], session.execute(_INSERT_TAP, values))
    key = result.inserted_primary_key
    assert key is not None  # a single-row INSERT
    tap = Tap(id=int(key[0]), **values)
    make_transient_to_detached(tap)
    session.add(tap)
    if status in _RIDES and identity is not None and merchant.kind in TRANSIT_KINDS:
        _count_ride_days(session, [(identity.card_no, values["business_date"], priced.amount)])
    return tap


def _count_ride_days(session: Session, changes: Iterable[tuple[str, dt.date, int]]) -> None:
    """Add to the cards' day totals (``CardRideDay``) what bus and metro rides cost now:
    (card, business date, fen) — what a recorded ride costs, or less what a reversal or a fare
    adjustment takes off. One statement, in card and day order: two transactions take the
    rows' locks in the same order."""
    totals: dict[tuple[str, dt.date], int] = {}
    for card_no, day, fen in changes:
        if fen:
            totals[card_no, day] = totals.get((card_no, day), 0) + fen
    stored_day = functools.cache(db.bind_converter(session, _RIDE_DAYS.c.business_date))
    rows = [
        (card_no, stored_day(day), fen) for (card_no, day), fen in sorted(totals.items()) if fen
    ]
    db.execute_rows(session, _ADD_TO_RIDE_DAY, rows)


# --------------------------------------------------------------------------- offline uploads


@dataclass(frozen=True, slots=True)
class OfflineTap:
    """One tap a terminal accepted offline (脱机交易), as uploaded."""

    terminal_seq: int
    card_no: str
    tapped_at: dt.datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TerminalUpload:
    """One terminal's offline taps, alone or in an operator's file."""

    terminal: Terminal
    taps: Sequence[OfflineTap]


@dataclass(frozen=True, slots=True)
class UploadResult:
    upload_id: int
    received: int
    approved: int
    debts: int
    duplicates: int
    rejected: int
    taps: list[Tap]  # the taps recorded by this upload, in processing order
    duplicate_seqs: list[int]
    # Rides recorded before that cost less once this upload's earlier rides were known (补退)
    fare_adjustments: int = 0


class _DenyHistory:
    """When each card_ref was on the deny list (黑名单), replayed from the list's entries."""

    def __init__(self, session: Session, card_refs: Iterable[str]) -> None:
        self._changes: dict[str, tuple[list[dt.datetime], list[str]]] = {}
        for entry in cards_service.deny_list_of(session, card_refs):
            times, actions = self._changes.setdefault(entry.card_ref, ([], []))
            times.append(entry.at)
            actions.append(entry.action)

    def denied_at(self, card_ref: str, at: dt.datetime) -> bool:
        changes = self._changes.get(card_ref)
        if changes is None:
            return False
        index = bisect.bisect_right(changes[0], at)  # entries are in seq (= time) order
        return index > 0 and changes[1][index - 1] == "add"


@dataclass(frozen=True, slots=True)
class TapWindow:
    """The tap times an offline upload made at ``now`` accepts, in POSIX seconds: a tap's time
    is checked (and sorted) as a float, a million times over for a day's ride files, instead
    of as a datetime with an offset of its own."""

    earliest: float
    latest: float

    @classmethod
    def at(cls, now: dt.datetime) -> TapWindow:
        return cls((now - OFFLINE_MAX_AGE).timestamp(), (now + REQUEST_SKEW).timestamp())

    def stamp(self, at: dt.datetime) -> float | str:
        """The tap's time in POSIX seconds, or why it is not accepted."""
        if at.tzinfo is None:
            return "give tap times with their offset"
        stamp = at.timestamp()
        if stamp > self.latest:
            return "a tap cannot happen after its upload; check the terminal's clock"
        if stamp < self.earliest:
            return (
                f"taps older than {OFFLINE_MAX_AGE.days} days are not accepted; "
                "settle them with the operator"
            )
        return stamp


def ingest_offline(
    session: Session,
    terminal: Terminal,
    taps: Sequence[OfflineTap],
    *,
    price: Pricer,
    return_taps: bool = True,
) -> UploadResult:
    """Take a batch of offline taps (脱机上传) of one terminal: ``ingest_offline_file`` with
    this terminal's upload alone (errors name ``taps[i]``)."""
    merchant = merchant_of(session, terminal)
    (result,) = _ingest(
        session, merchant, [TerminalUpload(terminal, taps)], price, return_taps, one=True
    )
    return result


def ingest_offline_file(
    session: Session,
    merchant: Merchant,
    uploads: Sequence[TerminalUpload],
    *,
    price: Pricer,
    return_taps: bool = True,
) -> list[UploadResult]:
    """Take an operator's collection file (交易文件): the offline taps of several of its
    terminals, as its data centre gathers them from the validators at the depots each night.

    Each terminal's taps are recorded as that terminal's upload (``UploadResult`` in the given
    order), exactly as if it had uploaded them itself; but all the file's taps are priced
    together in the order they happened, so a ride on one bus sees the rider's earlier ride on
    another (transfer discounts, caps), and the file is one transaction: all of it or nothing.
    A terminal appears at most once in a file; errors name ``uploads[k].taps[i]``.
    """
    if not uploads:
        raise InvalidInput("a file holds at least one terminal's upload", field="uploads")
    total = sum(len(upload.taps) for upload in uploads)
    if total > MAX_FILE:
        raise InvalidInput(
            f"a file holds at most {MAX_FILE} taps in one transaction; split it by terminals",
            field="uploads",
        )
    seen: set[int] = set()
    for k, upload in enumerate(uploads):
        if upload.terminal.merchant_id != merchant.id:
            raise InvalidInput(
                f"terminal {upload.terminal.terminal_no} is not {merchant.code}'s",
                field=f"uploads[{k}].terminal",
            )
        if upload.terminal.id in seen:
            raise InvalidInput(
                f"terminal {upload.terminal.terminal_no} appears twice; "
                "give each terminal's taps in one upload",
                field=f"uploads[{k}].terminal",
            )
        seen.add(upload.terminal.id)
    return _ingest(session, merchant, uploads, price, return_taps, one=False)


_IN_TIME_ORDER = operator.itemgetter(0, 1, 2)


@dataclass(slots=True)
class _Row:
    """A fresh tap of an upload on its way to the database."""

    tap: OfflineTap
    upload: int  # index into the file's uploads
    day: dt.date
    identity: CardIdentity | None
    amount: int = 0
    status: TapStatus = TapStatus.DECLINED
    reason: str = "unknown-card"
    details: Any = None  # as the database takes them
    transfer_id: int | None = None


def _ingest(
    session: Session,
    merchant: Merchant,
    uploads: Sequence[TerminalUpload],
    price: Pricer,
    return_taps: bool,
    *,
    one: bool,
) -> list[UploadResult]:
    """Both offline paths: one terminal's upload, or an operator's file of several.

    A tap already recorded for its terminal's sequence number is a duplicate and charged no
    second time. A card that was on the deny list when it was tapped is declined after the fact:
    the ride is recorded as a debt (欠费) of the card, priced as usual, not lost. A card without
    the balance also leaves a debt. Taps are priced and charged in the order they happened, so
    fares that depend on earlier rides (transfer discounts, caps) see them: the pricer is called
    once per tap in time order and must remember what it priced (see transit's pricer).

    Set-based: the charges go to the ledger's bulk path and the taps are inserted in bulk.
    """
    now = clock.now()
    window = TapWindow.at(now)
    stamps: list[list[float]] = []  # tap times in POSIX seconds, to sort by
    for k, upload in enumerate(uploads):
        where = "" if one else f"uploads[{k}]."
        if not upload.taps:
            raise InvalidInput("an upload holds at least one tap", field=f"{where}taps")
        if len(upload.taps) > MAX_BATCH:
            raise InvalidInput(
                f"an upload holds at most {MAX_BATCH} taps; split it", field=f"{where}taps"
            )
        times: list[float] = []
        for index, tap in enumerate(upload.taps):
            _check_seq(tap.terminal_seq, f"{where}taps[{index}].terminal_seq")
            stamp = window.stamp(tap.tapped_at)
            if isinstance(stamp, str):
                raise InvalidInput(stamp, field=f"{where}taps[{index}].tapped_at")
            times.append(stamp)
        stamps.append(times)
    # Terminals in the order of their ids: two files sharing terminals cannot deadlock.
    for upload in sorted(uploads, key=lambda u: u.terminal.id):
        _lock_terminal(session, upload.terminal)
    batches = [
        UploadBatch(
            terminal_id=upload.terminal.id,
            uploaded_at=now,
            received=len(upload.taps),
            approved=0,
            debts=0,
            duplicates=0,
            rejected=0,
        )
        for upload in uploads
    ]
    session.add_all(batches)
    session.flush()
    # (time, terminal, sequence, tap, upload) of every tap not recorded before
    order: list[tuple[float, int, int, OfflineTap, int]] = []
    duplicates: list[list[int]] = []
    for k, upload in enumerate(uploads):
        known = _recorded_seqs(session, upload.terminal, [t.terminal_seq for t in upload.taps])
        repeated: list[int] = []
        terminal_id = upload.terminal.id
        for tap, stamp in zip(upload.taps, stamps[k], strict=True):
            if tap.terminal_seq in known:
                repeated.append(tap.terminal_seq)
            else:
                known.add(tap.terminal_seq)
                order.append((stamp, terminal_id, tap.terminal_seq, tap, k))
        duplicates.append(repeated)
    order.sort(key=_IN_TIME_ORDER)  # (terminal, sequence) is unique: taps are never compared
    fresh = [(tap, k) for _, _, _, tap, k in order]
    del order
    found = cards_service.get_card_holdings(session, (tap.card_no for tap, _ in fresh))
    cards: dict[str, CardIdentity | None] = {}
    for tap, _ in fresh:
        if tap.card_no not in cards:
            # Each number is checked once: as given when it is a known card's (valid) number.
            holding = found.get(tap.card_no) or found.get(_normal_card_no(tap.card_no) or "")
            cards[tap.card_no] = None if holding is None else _identity(holding)
    deny = _DenyHistory(session, (c.card_ref for c in cards.values() if c is not None))
    rows = [_Row(tap, k, local_date(tap.tapped_at), cards[tap.card_no]) for tap, k in fresh]
    known_cards: dict[str, None] = {}
    first_of_day: dict[dt.date, dt.datetime] = {}  # rows are in time order
    for row in rows:
        if row.identity is not None:
            known_cards[row.identity.card_no] = None
            first_of_day.setdefault(row.day, row.tap.tapped_at)
    prepare = getattr(price, "prepare", None)
    if prepare is not None:
        # A pricer may read what it needs for all the batch's cards and days at once.
        prepare(session, list(known_cards), first_of_day)
    purses = card_accounts(
        session, (c.card_no for c in cards.values() if c is not None), _purse_of(merchant)
    )
    charges: list[ledger.TransferRequest] = []
    charged: list[_Row] = []
    acquired = merchant.acquired_account_id
    stored_details = _bind(session, "details")
    terminals = [upload.terminal for upload in uploads]
    for row in rows:
        tap, identity, terminal = row.tap, row.identity, terminals[row.upload]
        tap_details = dict(tap.details)
        if identity is not None:
            try:
                priced = price(session, terminal, identity, tap.tapped_at, tap_details)
            except _Decline as decline:
                row.reason = decline.reason
            else:
                tap_details.update(priced.details)
                row.amount = priced.amount
                row.status, row.reason = TapStatus.APPROVED, "ok"
                if deny.denied_at(identity.card_ref, tap.tapped_at):
                    # Nothing is owed for a free ride by a denied card: a plain decline.
                    row.status = TapStatus.DEBT if row.amount else TapStatus.DECLINED
                    row.reason = "denied-at-tap"
                elif row.amount > 0:
                    charged.append(row)
                    tap_key = f"{terminal.terminal_no}:{tap.terminal_seq}"
                    charges.append(
                        ledger.TransferRequest(
                            idempotency_key=f"tap:{tap_key}",
                            debit_account_id=purses[identity.card_no],
                            credit_account_id=acquired,
                            amount=row.amount,
                            metadata={"tap": tap_key},
                        )
                    )
        # The details as the database takes them, so that the dict goes as soon as it is made.
        row.details = stored_details(tap_details)
    for row, outcome in zip(charged, ledger.post_batch(session, charges), strict=True):
        if outcome.status is ledger.BatchStatus.REJECTED:
            if outcome.error != "insufficient-funds":
                raise Conflict(
                    f"tap {row.tap.terminal_seq} of terminal {terminals[row.upload].terminal_no} "
                    f"could not be charged: {outcome.reason}",
                    terminal_seq=row.tap.terminal_seq,
                )
            row.status, row.reason = TapStatus.DEBT, "insufficient-funds"
        else:
            row.transfer_id = outcome.transfer_id
    _insert_taps(session, merchant, uploads, [batch.id for batch in batches], now, rows)
    statuses = Counter((row.upload, row.status) for row in rows)
    for k, batch in enumerate(batches):
        batch.approved = statuses[k, TapStatus.APPROVED]
        batch.debts = statuses[k, TapStatus.DEBT]
        batch.rejected = statuses[k, TapStatus.DECLINED]
        batch.duplicates = len(duplicates[k])
    session.flush()
    results: list[UploadResult] = []
    for k, batch in enumerate(batches):
        recorded: list[Tap] = []
        if return_taps:
            numbers = [row.tap.terminal_seq for row in rows if row.upload == k]
            recorded = _recorded_taps(session, uploads[k].terminal, numbers)
        results.append(
            UploadResult(
                upload_id=batch.id,
                received=batch.received,
                approved=batch.approved,
                debts=batch.debts,
                duplicates=batch.duplicates,
                rejected=batch.rejected,
                taps=recorded,
                duplicate_seqs=duplicates[k],
            )
        )
    return results


@dataclass(frozen=True, slots=True)
class UploadRow:
    """An upload as the console lists it: what became of its taps, by which terminal."""

    upload: UploadBatch
    terminal_no: str
    merchant_code: str


def list_uploads(
    session: Session, *, merchant_codes: Iterable[str] | None = None, limit: int = 50
) -> list[UploadRow]:
    """The latest offline uploads, newest first (of these merchants' terminals, if given)."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    query = (
        select(UploadBatch, Terminal.terminal_no, Merchant.code)
        .join(Terminal, Terminal.id == UploadBatch.terminal_id)
        .join(Merchant, Merchant.id == Terminal.merchant_id)
        .order_by(UploadBatch.id.desc())
        .limit(limit)
    )
    if merchant_codes is not None:
        query = query.where(Merchant.code.in_(list(merchant_codes)))
    return [UploadRow(upload, number, code) for upload, number, code in session.execute(query)]


def _recorded_seqs(session: Session, terminal: Terminal, seqs: Sequence[int]) -> set[int]:
    """Which of the terminal's sequence numbers have a tap recorded already.

    A terminal numbers its taps one after another, so an upload's numbers usually lie close
    together: then one range read of the (terminal, seq) index answers for all of them (an
    empty range for a fresh upload) instead of a lookup per number."""
    low, high = min(seqs), max(seqs)
    of_terminal = Tap.terminal_id == terminal.id
    if high - low >= 16 * len(seqs):
        known: set[int] = set()
        for of_seqs in db.one_of(session, _TAPS.c.terminal_seq, list(seqs)):
            known.update(session.scalars(select(Tap.terminal_seq).where(of_terminal, of_seqs)))
        return known
    wanted = set(seqs)
    in_range = select(Tap.terminal_seq).where(of_terminal, Tap.terminal_seq.between(low, high))
    return {seq for seq in session.scalars(in_range) if seq in wanted}


def _recorded_taps(session: Session, terminal: Terminal, seqs: Sequence[int]) -> list[Tap]:
    """The terminal's taps of these sequence numbers, in their order. Found by the terminal's
    unique (terminal, seq) index, not by a scan for the upload."""
    order = {seq: i for i, seq in enumerate(seqs)}
    recorded: list[Tap] = []
    for of_seqs in db.one_of(session, _TAPS.c.terminal_seq, list(seqs)):
        recorded.extend(session.scalars(select(Tap).where(Tap.terminal_id == terminal.id, of_seqs)))
    recorded.sort(key=lambda t: order[t.terminal_seq])
    return recorded


# What ``_insert_taps`` writes of an offline tap, in this order (the rest stay NULL).
_TAP_COLUMNS = (
    "terminal_id",
    "terminal_seq",
    "merchant_id",
    "channel",
    "card_no",
    "card_ref",
    "resident_id",
    "tapped_at",
    "business_date",
    "amount",
    "status",
    "reason",
    "transfer_id",
    "upload_id",
    "details",
    "recorded_at",
)


def _bind(session: Session, column: str) -> Callable[[Any], Any]:
    """The tap column's own conversion of a value for the session's database."""
    return db.bind_converter(session, _TAPS.c[column])


def _insert_taps(
    session: Session,
    merchant: Merchant,
    uploads: Sequence[TerminalUpload],
    upload_ids: Sequence[int],
    now: dt.datetime,
    rows: list[_Row],
) -> None:
    """Insert the fresh taps of a file's uploads in as few round trips as the backend allows:
    PostgreSQL by ``COPY``, SQLite by one ``executemany`` (as the ledger's bulk path).

    Values go through their columns' own conversions, the ones an upload shares (its day,
    statuses, the time it was recorded) once per distinct value.
    """
    channel = _bind(session, "channel")(TapChannel.OFFLINE)
    recorded = _bind(session, "recorded_at")(now)
    status_of = functools.cache(_bind(session, "status"))
    day_of = functools.cache(_bind(session, "business_date"))
    tapped_at = _bind(session, "tapped_at")
    terminal_ids = [upload.terminal.id for upload in uploads]
    values = [
        (
            terminal_ids[row.upload],
            row.tap.terminal_seq,
            merchant.id,
            channel,
            row.identity.card_no if row.identity else None,
            row.identity.card_ref if row.identity else None,
            row.identity.resident_id if row.identity else None,
            tapped_at(row.tap.tapped_at),
            day_of(row.day),
            row.amount,
            status_of(row.status),
            row.reason,
            row.transfer_id,
            upload_ids[row.upload],
            row.details,
            recorded,
        )
        for row in rows
    ]
    try:
        db.copy_rows(session, "acquiring_tap", _TAP_COLUMNS, values)
    except session.get_bind().dialect.loaded_dbapi.IntegrityError as exc:
        who = ", ".join(upload.terminal.terminal_no for upload in uploads)
        raise Conflict(
            f"a tap of this upload was recorded concurrently (terminal {who}); "
            "nothing of the upload was recorded, send it again"
        ) from exc
    if merchant.kind in TRANSIT_KINDS:
        _count_ride_days(
            session,
            (
                (row.identity.card_no, row.day, row.amount)
                for row in rows
                if row.identity is not None and row.status in _RIDES
            ),
        )


def _identity(holding: cards_service.CardHolding) -> CardIdentity:
    """The card as it is now (its state at tap time is judged from the deny-list history)."""
    return CardIdentity(
        holding.card_no, holding.card_ref, holding.resident_id, str(holding.state), holding
    )


def _normal_card_no(card_no: str) -> str | None:
    try:
        return parse_card_number(card_no)
    except InvalidInput:
        return None


def decline(reason: str) -> _Decline:
    """For pricers: refuse the tap with a reason code (e.g. ``unknown-line``)."""
    return _Decline(reason)


# --------------------------------------------------------------------------- queries


def get_tap(session: Session, tap_id: int) -> Tap:
    tap = session.get(Tap, tap_id)
    if tap is None:
        raise NotFound(f"no tap with id {tap_id}", tap_id=tap_id)
    return tap


def rides_of_card(
    session: Session, card_no: str, *, since: dt.datetime, until: dt.datetime
) -> list[Tap]:
    """Taps of a card at bus and metro terminals in ``[since, until)`` that count as rides
    (charged or owed, not reversed), oldest first."""
    transit = select(Merchant.id).where(Merchant.kind.in_(TRANSIT_KINDS))
    return list(
        session.scalars(
            select(Tap)
            .where(
                Tap.card_no == card_no,
                Tap.tapped_at >= since,
                Tap.tapped_at < until,
                Tap.status.in_(_RIDES),
                Tap.merchant_id.in_(transit),
            )
            .order_by(Tap.tapped_at, Tap.id)
        )
    )


@dataclass(frozen=True, slots=True)
class RideRow:
    """What fare rules read of an earlier ride (a light row, not a Tap)."""

    mode: str
    line: str
    at: dt.datetime
    amount: int


@dataclass(frozen=True, slots=True)
class CardRides:
    """What pricing needs to know of a card's earlier rides (see ``ride_history_of_cards``)."""

    rides: list[RideRow]  # every ride on the asked days, oldest first
    # Fen charged on the other days of the months, summed per stretch between two asked days
    # (from the first of the month) and keyed by the stretch's last day ridden: what the caps
    # of each asked day add up, in one row per stretch instead of one per day.
    day_totals: dict[dt.date, int]


@dataclass(frozen=True, slots=True)
class _RideWindow:
    """What a ride history reads, for the asked days (sorted): their rides one by one between
    two instants, and the cards' day totals from the first of the earliest month up to (not
    including) the last asked day."""

    rides_from: dt.datetime
    rides_until: dt.datetime
    totals_from: dt.date
    totals_until: dt.date

    @classmethod
    def of(cls, wanted: Sequence[dt.date]) -> _RideWindow:
        def midnight(day: dt.date) -> dt.datetime:
            return dt.datetime.combine(day, dt.time(), tzinfo=_LOCAL)

        first, last = wanted[0], wanted[-1]
        return cls(
            rides_from=midnight(first),
            rides_until=midnight(last + dt.timedelta(days=1)),
            totals_from=first.replace(day=1),
            totals_until=last,
        )


def _in_stretch(day: ColumnElement[dt.date], index: int) -> ColumnElement[bool]:
    """Whether ``day`` lies in the ``index``-th stretch of other days before the asked days:
    up to (not including) the ``index``-th asked day, from the first of its month or the day
    after the asked day before it, whichever is later (bind parameters of ``_stretch_params``).
    """
    return and_(
        day >= bindparam(f"stretch_from_{index}", type_=Date),
        day < bindparam(f"stretch_until_{index}", type_=Date),
    )


def _stretch(day: ColumnElement[dt.date], count: int) -> ColumnElement[int]:
    """Which of the ``count`` stretches ``day`` lies in; NULL for a day of an earlier month
    than the next asked day (no cap counts it)."""
    return case(*((_in_stretch(day, i), i) for i in range(count)))


def _stretch_params(wanted: Sequence[dt.date]) -> dict[str, dt.date]:
    """The bounds of the stretches before the (sorted) asked days, one stretch after another."""
    params: dict[str, dt.date] = {}
    after = dt.date.min
    for i, day in enumerate(wanted):
        params[f"stretch_from_{i}"] = max(day.replace(day=1), after)
        params[f"stretch_until_{i}"] = day
        after = day + dt.timedelta(days=1)
    return params


def _fare_now(taps: Table) -> ColumnElement[int]:
    """What a ride costs now: charged (or owed) less what fare adjustments gave back."""
    return taps.c.amount - taps.c.refunded


def _at_transit_merchant(merchant_id: ColumnElement[int]) -> ColumnElement[bool]:
    """A card's taps at bus and metro merchants. ``+ 0`` keeps the merchant out of the index
    choice: without statistics SQLite would find a few cards' rides through the merchant-date
    index, walking every rider's taps of the merchant's days, instead of the cards' own."""
    transit = select(_MERCHANTS.c.id).where(_one_of_fixed(_MERCHANTS.c.kind, TRANSIT_KINDS))
    return (merchant_id + 0).in_(transit)


def _one_of_fixed(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (...)`` of values fixed in the code, each its own parameter: a list given
    to ``in_`` is expanded into the statement's text anew at every execution (the ride
    history of an online authorisation took 118 µs with its lists, 73 µs without)."""
    return column.in_([literal(value, column.type) for value in values])


def _counted_ride() -> ColumnElement[bool]:
    """A tap that counts as a ride for the fare rules: charged or owed, at a bus or metro."""
    return and_(
        _one_of_fixed(_TAPS.c.status, _RIDES),
        _at_transit_merchant(_TAPS.c.merchant_id),
    )


def ride_days_disagreeing(
    session: Session, *, business_date: dt.date | None = None
) -> list[tuple[str, dt.date, int, int]]:
    """The cards' day totals (``CardRideDay``) that disagree with their taps, as (card, day,
    kept, counted from the taps); of one business date, or of every date. Empty when they
    agree, as they always should: reconciliation and the tests ask."""
    counted_query = (
        select(_TAPS.c.card_no, _TAPS.c.business_date, func.sum(_fare_now(_TAPS)))
        .where(_TAPS.c.card_no.is_not(None), _counted_ride())
        .group_by(_TAPS.c.card_no, _TAPS.c.business_date)
    )
    kept_query = select(_RIDE_DAYS.c.card_no, _RIDE_DAYS.c.business_date, _RIDE_DAYS.c.fare)
    if business_date is not None:
        counted_query = counted_query.where(_TAPS.c.business_date == business_date)
        kept_query = kept_query.where(_RIDE_DAYS.c.business_date == business_date)
    counted = {(c, d): int(f) for c, d, f in session.execute(counted_query) if f}
    kept = {(c, d): int(f) for c, d, f in session.execute(kept_query) if f}
    return sorted(
        (card_no, day, kept.get((card_no, day), 0), counted.get((card_no, day), 0))
        for card_no, day in counted.keys() | kept.keys()
        if kept.get((card_no, day), 0) != counted.get((card_no, day), 0)
    )


def ride_history_of_cards(
    session: Session, card_nos: Iterable[str], *, days: Iterable[dt.date], rides: bool = True
) -> dict[str, CardRides]:
    """The cards' earlier rides for pricing rides on ``days`` (local business days).

    Every ride on those days comes as a light row (mode, line, time, amount); for the other days
    of their months, from the first of the earliest month up to the last asked day, only what
    the rides cost per stretch of days between two asked days (``CardRides.day_totals``; only
    these when not ``rides``), from the cards' day totals (``CardRideDay``: at most a month of
    rows per card, however often it rode). Two set-based queries.
    """
    wanted = sorted(set(days))
    numbers = list(dict.fromkeys(card_nos))
    found: dict[str, CardRides] = {n: CardRides([], {}) for n in numbers}
    if not wanted or not numbers:
        return found
    window = _RideWindow.of(wanted)
    # Per stretch, its last day ridden and what its rides cost: one row per card, from the
    # cards' day totals.
    day, fare = _RIDE_DAYS.c.business_date, _RIDE_DAYS.c.fare
    per_stretch = [
        aggregate(case((_in_stretch(day, i), column)))
        for i in range(len(wanted))
        for aggregate, column in ((func.max, day), (func.sum, fare))
    ]
    stretches = _stretch_params(wanted)
    connection = session.connection()
    for of_cards, of_card_days in zip(
        db.one_of(session, _TAPS.c.card_no, numbers),
        db.one_of(session, _RIDE_DAYS.c.card_no, numbers),
        strict=True,
    ):
        one_by_one = (
            select(
                Tap.card_no,
                Tap.tapped_at,
                _fare_now(_TAPS),
                Tap.details["mode"].as_string(),
                Tap.details["line"].as_string(),
            )
            .where(
                of_cards,
                Tap.tapped_at >= window.rides_from,
                Tap.tapped_at < window.rides_until,
                Tap.business_date.in_(wanted),
                _counted_ride(),
            )
            .order_by(Tap.tapped_at, Tap.id)
        )
        for card_no, at, amount, mode, line in connection.execute(one_by_one) if rides else ():
            found[card_no].rides.append(RideRow(mode or "", line or "", at, int(amount)))
        totals = (
            select(_RIDE_DAYS.c.card_no, *per_stretch)
            .where(
                of_card_days,
                day >= window.totals_from,
                day < window.totals_until,
                day.not_in(wanted),
            )
            .group_by(_RIDE_DAYS.c.card_no)  # in the key's order: no sort
        )
        for card_no, *sums in connection.execute(totals, stretches):
            day_totals = found[str(card_no)].day_totals
            for day, total in zip(sums[::2], sums[1::2], strict=True):
                if day is not None:
                    day_totals[day] = int(total or 0)
    return found


@functools.cache
def _ride_history_statement(count: int) -> CompoundSelect[*tuple[Any, ...]]:
    """Both halves of ``ride_history_of_cards`` for one card and ``count`` asked days, in one
    statement, built once per count (online authorisation asks two days), with a parameter
    per day (``_one_of_fixed``)."""
    days = [bindparam(f"day_{i}", type_=Date) for i in range(count)]
    rides = select(
        _TAPS.c.id,
        _TAPS.c.tapped_at,
        _TAPS.c.business_date,
        _fare_now(_TAPS),
        Tap.details["mode"].as_string(),
        Tap.details["line"].as_string(),
    ).where(
        _TAPS.c.card_no == bindparam("card_no"),
        _TAPS.c.tapped_at >= bindparam("rides_from", type_=_TAPS.c.tapped_at.type),
        _TAPS.c.tapped_at < bindparam("rides_until", type_=_TAPS.c.tapped_at.type),
        _TAPS.c.business_date.in_(days),
        _counted_ride(),
    )
    day = _RIDE_DAYS.c.business_date
    totals = (
        select(null(), null(), func.max(day), func.sum(_RIDE_DAYS.c.fare), null(), null())
        .where(
            _RIDE_DAYS.c.card_no == bindparam("card_no"),
            day >= bindparam("totals_from", type_=Date),
            day < bindparam("totals_until", type_=Date),
            day.not_in(days),
            _stretch(day, count).is_not(None),
        )
        .group_by(_stretch(day, count))
    )
    return union_all(rides, totals)


def ride_history_of_card(session: Session, card_no: str, *, days: Iterable[dt.date]) -> CardRides:
    """``ride_history_of_cards`` of one card (online authorisation), in one statement."""
    wanted = sorted(set(days))
    found = CardRides([], {})
    if not wanted:
        return found
    window = _RideWindow.of(wanted)
    rows = session.execute(
        _ride_history_statement(len(wanted)),
        {
            "card_no": card_no,
            **{f"day_{i}": day for i, day in enumerate(wanted)},
            "rides_from": window.rides_from,
            "rides_until": window.rides_until,
            "totals_from": window.totals_from,
            "totals_until": window.totals_until,
            **_stretch_params(wanted),
        },
    )
    rides: list[tuple[dt.datetime, int, RideRow]] = []
    for tap_id, at, day, amount, mode, line in rows:
        if tap_id is None:
            found.day_totals[day] = int(amount or 0)
        else:
            rides.append((at, int(tap_id), RideRow(mode or "", line or "", at, int(amount))))
    rides.sort(key=lambda ride: (ride[0], ride[1]))
    found.rides.extend(ride for _, _, ride in rides)
    return found


def taps_of_resident(
    session: Session,
    resident_id: int,
    *,
    kinds: Iterable[MerchantKind] | None = None,
    limit: int = 100,
) -> list[tuple[Tap, Merchant]]:
    """A resident's taps (all of their cards), newest first, with the merchant."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    query = (
        select(Tap, Merchant)
        .join(Merchant, Merchant.id == Tap.merchant_id)
        .where(Tap.resident_id == resident_id)
        .order_by(Tap.tapped_at.desc(), Tap.id.desc())
        .limit(limit)
    )
    if kinds is not None:
        query = query.where(Merchant.kind.in_(list(kinds)))
    return [(tap, merchant) for tap, merchant in session.execute(query)]


def card_debts(session: Session, card_no: str) -> list[Tap]:
    """Rides the card owes (欠费): offline taps that could not be charged."""
    return list(
        session.scalars(
            select(Tap).where(Tap.card_no == card_no, Tap.status == TapStatus.DEBT).order_by(Tap.id)
        )
    )


def collect_debts(session: Session, card_no: str) -> list[Tap]:
    """Charge the card's debts (欠费), oldest first, while its purse can pay; answers the taps
    collected. Each becomes an approved tap, cleared with the next daily clearing."""
    collected: list[Tap] = []
    for tap in card_debts(session, card_no):
        merchant = session.get(Merchant, tap.merchant_id)
        terminal = session.get(Terminal, tap.terminal_id)
        assert merchant is not None and terminal is not None
        identity = CardIdentity(card_no, tap.card_ref or "", tap.resident_id or 0, "")
        try:
            tap.transfer_id = _charge(
                session, terminal, merchant, tap.terminal_seq, identity, tap.amount, tap.tapped_at
            )
        except ledger.InsufficientFunds:
            break
        tap.status = TapStatus.APPROVED
        tap.details = {**tap.details, "debt": tap.reason, "collected_at": clock.now().isoformat()}
        tap.reason = "debt-collected"
        collected.append(tap)
    session.flush()
    return collected


# --------------------------------------------------------------------------- reversals


def reverse_tap(session: Session, tap_id: int, *, reason: str) -> Tap:
    """Undo a charged tap (冲正/退款) by a compensating transfer back to the card's purse.

    Reversing twice is refused; a reversal after clearing nets against the next clearing. A
    tap a fare adjustment (补退) refunded in part gives back what is left of its charge.
    """
    if not reason.strip():
        raise InvalidInput("say why the tap is reversed", field="reason")
    tap = session.scalar(select(Tap).where(Tap.id == tap_id).with_for_update())
    if tap is None:
        raise NotFound(f"no tap with id {tap_id}", tap_id=tap_id)
    if tap.status is TapStatus.REVERSED:
        raise Conflict(f"tap {tap_id} was already reversed", tap_id=tap_id)
    if tap.status is not TapStatus.APPROVED or tap.transfer_id is None:
        raise Conflict(
            f"tap {tap_id} is {tap.status} with nothing charged; there is nothing to reverse",
            tap_id=tap_id,
        )
    transfer = ledger.reverse_transfer(
        session,
        tap.transfer_id,
        idempotency_key=f"tap-reversal:{tap.id}",
        reason=reason,
        amount=tap.amount - tap.refunded,
    )
    now = clock.now()
    merchant = session.get(Merchant, tap.merchant_id)
    assert merchant is not None  # a tap's merchant is a foreign key
    if tap.card_no is not None and merchant.kind in TRANSIT_KINDS:
        _count_ride_days(session, [(tap.card_no, tap.business_date, tap.refunded - tap.amount)])
    tap.status = TapStatus.REVERSED
    tap.reversal_transfer_id = transfer.id
    tap.reversed_at = now
    tap.reversal_date = local_date(now)
    tap.details = {**tap.details, "reversal_reason": reason.strip()[:200]}
    session.flush()
    return tap


# --------------------------------------------------------------------------- fare adjustments


@dataclass(frozen=True, slots=True)
class RideToReprice:
    """A recorded ride as pricing it again needs it (``rides_since``)."""

    tap_id: int
    at: dt.datetime
    fare_now: int  # charged (or owed) less what adjustments gave back
    upload_id: int | None  # None: authorised online
    # From the tap's details: what was ridden, and the card category it was priced for.
    mode: str
    line: str
    entry: str | None
    exit: str | None
    category: str | None


@dataclass(frozen=True, slots=True)
class CardRidesSince:
    """A card's rides from a day on, and what it was charged earlier in that day's month."""

    rides: list[RideToReprice]  # oldest first
    day_totals: dict[dt.date, int]  # as ``CardRides.day_totals``, before the day


_REPRICED_DETAILS = ("mode", "line", "entry", "exit", "category")


def last_tap_id(session: Session) -> int:
    """The highest tap id so far (``cards_with_later_rides``)."""
    return int(session.scalar(select(func.coalesce(func.max(_TAPS.c.id), 0))) or 0)


def cards_with_later_rides(
    session: Session,
    earliest: Mapping[str, dt.datetime],
    fresh_uploads: Collection[int],
    *,
    recorded_up_to: int,
) -> list[str]:
    """The cards of ``earliest`` (card → its earliest ride just taken in by ``fresh_uploads``)
    that have a ride recorded before, online or by another upload, that happened after it: the
    rides a late upload may have been overcharged (see ``FareAdjustment``). One set-based
    query; in the usual order of arrival it finds none.

    ``recorded_up_to`` is ``last_tap_id`` before the uploads were taken in. On SQLite the
    transaction has held the write lock since then, so every other tap has an id up to it and
    the card index alone answers (a day's file: its own 30,000 rides are not read). Elsewhere
    taps of other transactions may have higher ids, and the upload tells them apart.
    """
    if not earliest:
        return []
    since = min(earliest.values())
    recorded_before: ColumnElement[bool] = _TAPS.c.id <= recorded_up_to
    if session.get_bind().dialect.name != "sqlite":
        recorded_before = or_(
            recorded_before,
            _TAPS.c.upload_id.is_(None),
            _TAPS.c.upload_id.not_in(sorted(fresh_uploads)),
        )
    found: list[str] = []
    for of_cards in db.one_of(session, _TAPS.c.card_no, list(earliest)):
        query = (
            select(_TAPS.c.card_no, func.max(_TAPS.c.tapped_at))
            .where(
                of_cards,
                _TAPS.c.tapped_at > since,
                _counted_ride(),
                recorded_before,
            )
            .group_by(_TAPS.c.card_no)
        )
        for card_no, latest in session.execute(query):
            if latest is not None and latest > earliest[card_no]:
                found.append(str(card_no))
    return found


def rides_since(
    session: Session, card_nos: Sequence[str], day: dt.date
) -> dict[str, CardRidesSince]:
    """The cards' rides from the local ``day`` on, every one (charged or owed, at bus and metro
    terminals, oldest first), and per stretch the sums of the days of its month before it."""
    before = ride_history_of_cards(session, card_nos, days=[day], rides=False)
    found = {n: CardRidesSince([], dict(before[n].day_totals)) for n in card_nos}
    since = dt.datetime.combine(day, dt.time(), tzinfo=_LOCAL)
    for of_cards in db.one_of(session, _TAPS.c.card_no, list(card_nos)):
        query = (
            select(
                _TAPS.c.card_no,
                _TAPS.c.id,
                _TAPS.c.tapped_at,
                _fare_now(_TAPS),
                _TAPS.c.upload_id,
                *(Tap.details[name].as_string() for name in _REPRICED_DETAILS),
            )
            .where(of_cards, _TAPS.c.tapped_at >= since, _counted_ride())
            .order_by(_TAPS.c.card_no, _TAPS.c.tapped_at, _TAPS.c.id)
        )
        for (
            card_no,
            tap_id,
            at,
            fare,
            upload_id,
            mode,
            line,
            entry,
            exit_,
            category,
        ) in session.execute(query):
            found[card_no].rides.append(
                RideToReprice(
                    int(tap_id),
                    at,
                    int(fare),
                    upload_id,
                    mode or "",
                    line or "",
                    entry,
                    exit_,
                    category,
                )
            )
    return found


@dataclass(frozen=True, slots=True)
class FareCut:
    """A ride's fare to lower (``adjust_fares``): the tap, its new fare, how it was priced."""

    tap_id: int
    fare: int
    steps: Sequence[str]
    cause_tap_id: int | None = None


_LOWER_TAP = (
    update(_TAPS)
    .where(_TAPS.c.id == bindparam("cut_tap"))
    .values(
        refunded=_TAPS.c.refunded + bindparam("cut_refund"),
        amount=_TAPS.c.amount - bindparam("cut_debt"),
    )
)


def adjust_fares(session: Session, cuts: Sequence[FareCut]) -> list[FareAdjustment]:
    """Lower recorded rides' fares (补退), set-based: for a charged ride the difference goes
    back from the merchant's acquired account to the card's purse it was charged from (one
    ledger ``post_batch``); a debt owes less and nothing moves. A fare is only ever lowered,
    once per tap in one call; each adjustment is its own transfer and row, netted by clearing.
    """
    if not cuts:
        return []
    wanted = [cut.tap_id for cut in cuts]
    if len(set(wanted)) != len(wanted):
        raise InvalidInput("a tap is adjusted once per call", field="cuts")
    taps: dict[int, Any] = {}
    for of_taps in db.one_of(session, _TAPS.c.id, wanted):
        query = select(
            _TAPS.c.id,
            _TAPS.c.merchant_id,
            _TAPS.c.card_no,
            _TAPS.c.business_date,
            _TAPS.c.status,
            _TAPS.c.amount,
            _TAPS.c.refunded,
            _TAPS.c.transfer_id,
        ).where(of_taps)
        taps.update((row.id, row) for row in session.execute(query.with_for_update()))
    merchants = {m.id: m for m in list_merchants(session)}
    earlier: Counter[int] = Counter()  # adjustments each tap had before
    for of_taps in db.one_of(session, FareAdjustment.tap_id, wanted):
        counted = select(FareAdjustment.tap_id, func.count()).where(of_taps)
        for tap_id, count in session.execute(counted.group_by(FareAdjustment.tap_id)):
            earlier[int(tap_id)] = int(count)
    purses: dict[tuple[str, Purse], int] = {}
    for cut in cuts:
        tap = taps.get(cut.tap_id)
        if tap is None:
            raise NotFound(f"no tap with id {cut.tap_id}", tap_id=cut.tap_id)
        if tap.status not in _RIDES or not tap.card_no:
            raise Conflict(
                f"tap {cut.tap_id} is {tap.status}; only rides charged or owed are adjusted",
                tap_id=cut.tap_id,
            )
        if not 0 <= cut.fare < tap.amount - tap.refunded:
            raise InvalidInput(
                f"a fare adjustment lowers the fare of tap {cut.tap_id}: {cut.fare} is not below "
                f"{tap.amount - tap.refunded}",
                field="fare",
            )
        if tap.status is TapStatus.APPROVED:
            purses[tap.card_no, _purse_of(merchants[tap.merchant_id])] = 0
    for purse in {purse for _, purse in purses}:
        numbers = [card_no for card_no, p in purses if p == purse]
        for card_no, account in card_accounts(session, numbers, purse).items():
            purses[card_no, purse] = account
    refunds: list[ledger.TransferRequest] = []
    refunded: list[int] = []  # indexes of the cuts that move money
    for index, cut in enumerate(cuts):
        tap = taps[cut.tap_id]
        if tap.status is TapStatus.APPROVED:
            merchant = merchants[tap.merchant_id]
            before = tap.amount - tap.refunded
            refunds.append(
                ledger.TransferRequest(
                    idempotency_key=f"fare-adjustment:{tap.id}:{earlier[tap.id] + 1}",
                    debit_account_id=merchant.acquired_account_id,
                    credit_account_id=purses[tap.card_no, _purse_of(merchant)],
                    amount=before - cut.fare,
                    metadata={"tap": tap.id, "fare_before": before, "fare_after": cut.fare},
                )
            )
            refunded.append(index)
    transfers: dict[int, int] = {}
    for index, outcome in zip(refunded, ledger.post_batch(session, refunds), strict=True):
        if outcome.status is ledger.BatchStatus.REJECTED or outcome.transfer_id is None:
            raise Conflict(
                f"the fare adjustment of tap {cuts[index].tap_id} could not be refunded: "
                f"{outcome.reason}",
                tap_id=cuts[index].tap_id,
            )
        transfers[index] = outcome.transfer_id
    now = clock.now()
    adjustments: list[FareAdjustment] = []
    lowered: list[dict[str, int]] = []
    for index, cut in enumerate(cuts):
        tap = taps[cut.tap_id]
        before = tap.amount - tap.refunded
        moved = index in transfers
        lowered.append(
            {
                "cut_tap": tap.id,
                "cut_refund": before - cut.fare if moved else 0,
                "cut_debt": 0 if moved else before - cut.fare,
            }
        )
        adjustments.append(
            FareAdjustment(
                tap_id=tap.id,
                merchant_id=tap.merchant_id,
                card_no=tap.card_no,
                fare_before=before,
                fare_after=cut.fare,
                amount=before - cut.fare,
                transfer_id=transfers.get(index),
                cause_tap_id=cut.cause_tap_id,
                steps=list(cut.steps),
                adjusted_at=now,
                adjustment_date=local_date(now),
                run_id=None,
            )
        )
    session.execute(_LOWER_TAP, lowered)
    # The rides' day totals lose the cuts (``taps`` holds the fares as they were before).
    cut_fares: list[tuple[str, dt.date, int]] = []
    for cut in cuts:
        tap = taps[cut.tap_id]
        if merchants[tap.merchant_id].kind in TRANSIT_KINDS:
            cut_fares.append((tap.card_no, tap.business_date, cut.fare - tap.amount + tap.refunded))
    _count_ride_days(session, cut_fares)
    for held in list(session.identity_map.values()):
        if isinstance(held, Tap) and held.id in taps:
            session.expire(held)  # read again: its fare was lowered underneath
    session.add_all(adjustments)
    session.flush()
    return adjustments


def fare_adjustments(session: Session, *, tap_ids: Iterable[int]) -> list[FareAdjustment]:
    """The fare adjustments of the given taps, newest first."""
    query = select(FareAdjustment).where(FareAdjustment.tap_id.in_(list(tap_ids)))
    return list(session.scalars(query.order_by(FareAdjustment.id.desc())))


# --------------------------------------------------------------------------- clearing


_Netted = TypeVar("_Netted", Tap, FareAdjustment)


def _to_net(session: Session, kind: type[_Netted], *where: ColumnElement[bool]) -> list[_Netted]:
    """What a clearing run nets of one kind (sales, reversals, adjustments), locked."""
    return list(session.scalars(select(kind).where(*where).with_for_update()))


def run_clearing(session: Session, business_date: dt.date) -> list[ClearingRun]:
    """Daily clearing (日终清算) for every merchant up to and including ``business_date``.

    Charged taps, reversals and fare adjustments (补退) not yet cleared are netted per merchant
    and moved from the merchant's acquired account to its settlement account by one transfer.
    Running it again for the same date answers the runs already made; late uploads go into the
    next day's run.
    """
    if business_date > clock.today():
        raise InvalidInput("a day can be cleared once it has begun", field="date")
    runs: list[ClearingRun] = []
    for merchant in list_merchants(session):
        existing = session.scalar(
            select(ClearingRun).where(
                ClearingRun.merchant_id == merchant.id,
                ClearingRun.business_date == business_date,
            )
        )
        if existing is not None:
            runs.append(existing)
            continue
        sales = _to_net(
            session,
            Tap,
            Tap.merchant_id == merchant.id,
            Tap.business_date <= business_date,
            Tap.transfer_id.is_not(None),
            Tap.cleared_run_id.is_(None),
        )
        reversals = _to_net(
            session,
            Tap,
            Tap.merchant_id == merchant.id,
            Tap.reversal_date <= business_date,
            Tap.reversal_transfer_id.is_not(None),
            Tap.reversal_run_id.is_(None),
        )
        adjustments = _to_net(
            session,
            FareAdjustment,
            FareAdjustment.merchant_id == merchant.id,
            FareAdjustment.adjustment_date <= business_date,
            FareAdjustment.transfer_id.is_not(None),
            FareAdjustment.run_id.is_(None),
        )
        if not sales and not reversals and not adjustments:
            continue
        gross = sum(t.amount for t in sales)
        reversed_amount = sum(t.amount - t.refunded for t in reversals)
        adjusted_amount = sum(a.amount for a in adjustments)
        net = gross - reversed_amount - adjusted_amount
        run = ClearingRun(
            merchant_id=merchant.id,
            business_date=business_date,
            taps=len(sales),
            gross=gross,
            reversals=len(reversals),
            reversed_amount=reversed_amount,
            adjustments=len(adjustments),
            adjusted_amount=adjusted_amount,
            net=net,
            transfer_id=None,
            created_at=clock.now(),
        )
        session.add(run)
        session.flush()
        if net != 0:
            source, target = merchant.acquired_account_id, merchant.settlement_account_id
            if net < 0:
                source, target = target, source
            run.transfer_id = ledger.post_transfer(
                session,
                ledger.TransferRequest(
                    idempotency_key=f"clearing:{merchant.code}:{business_date.isoformat()}",
                    debit_account_id=source,
                    credit_account_id=target,
                    amount=abs(net),
                    metadata={"clearing_run": run.id, "date": business_date.isoformat()},
                ),
            ).id
        for tap in sales:
            tap.cleared_run_id = run.id
        for tap in reversals:
            tap.reversal_run_id = run.id
        for adjustment in adjustments:
            adjustment.run_id = run.id
        session.flush()
        runs.append(run)
    return runs


def list_clearing_runs(session: Session, business_date: dt.date) -> list[tuple[ClearingRun, str]]:
    query = (
        select(ClearingRun, Merchant.code)
        .join(Merchant, Merchant.id == ClearingRun.merchant_id)
        .where(ClearingRun.business_date == business_date)
        .order_by(Merchant.code)
    )
    return [(run, code) for run, code in session.execute(query)]


_CSV_HEADER = (
    "merchant",
    "business_date",
    "entry",
    "tap_id",
    "terminal",
    "terminal_seq",
    "channel",
    "card",
    "tapped_at",
    "tap_date",
    "amount_fen",
    "amount_yuan",
    "transfer_id",
)


def clearing_csv(session: Session, business_date: dt.date, merchant_code: str | None = None) -> str:
    """The clearing file (清算文件) of a day: one line per cleared tap, reversal or fare
    adjustment (补退), then a total line per merchant. Card numbers are masked. Regenerating it
    gives the same bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
    terminals = {t.id: t.terminal_no for t in session.scalars(select(Terminal))}
    for run, code in list_clearing_runs(session, business_date):
        if merchant_code is not None and code != merchant_code:
            continue
        entries: list[tuple[str, Tap, int, int | None]] = [
            ("sale", t, t.amount, t.transfer_id)
            for t in session.scalars(
                select(Tap).where(Tap.cleared_run_id == run.id).order_by(Tap.id)
            )
        ]
        entries += [
            ("reversal", t, -(t.amount - t.refunded), t.reversal_transfer_id)
            for t in session.scalars(
                select(Tap).where(Tap.reversal_run_id == run.id).order_by(Tap.id)
            )
        ]
        entries += [
            ("fare-adjustment", t, -a.amount, a.transfer_id)
            for a, t in session.execute(
                select(FareAdjustment, Tap)
                .join(Tap, Tap.id == FareAdjustment.tap_id)
                .where(FareAdjustment.run_id == run.id)
                .order_by(FareAdjustment.id)
            )
        ]
        for entry, tap, amount, transfer_id in entries:
            card = f"{tap.card_no[:2]}****{tap.card_no[-3:]}" if tap.card_no else ""
            writer.writerow(
                (
                    code,
                    business_date.isoformat(),
                    entry,
                    tap.id,
                    terminals.get(tap.terminal_id, ""),
                    tap.terminal_seq,
                    tap.channel.value,
                    card,
                    tap.tapped_at.isoformat(),
                    tap.business_date.isoformat(),
                    amount,
                    _yuan(amount),
                    transfer_id,
                )
            )
        writer.writerow(
            (
                code,
                business_date.isoformat(),
                "total",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                run.net,
                _yuan(run.net),
                run.transfer_id or "",
            )
        )
    return out.getvalue()


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@dataclass(frozen=True, slots=True)
class ReconciliationRow:
    """Uploads versus clearing of one merchant on one day (对账)."""

    merchant: str
    business_date: dt.date
    taps_recorded: int
    approved: int
    approved_amount: int
    declined: int
    debts: int
    debt_amount: int
    reversed: int
    cleared_taps: int
    cleared_amount: int  # gross of the day's clearing run
    cleared_from_earlier_days: int  # part of cleared_amount tapped before the date
    awaiting_clearing: int  # charged taps of the date not in the date's clearing run
    outstanding_expected: int  # from the taps: charged − reversed − adjusted, not yet cleared
    outstanding_ledger: int  # balance of the merchant's acquired account
    duplicates_rejected: int

    @property
    def balanced(self) -> bool:
        day_charged = self.approved_amount + self.reversed_amount_of_day
        return (
            self.outstanding_expected == self.outstanding_ledger
            and day_charged - self.awaiting_clearing + self.cleared_from_earlier_days
            == self.cleared_amount
        )

    reversed_amount_of_day: int = 0


def reconcile(session: Session, business_date: dt.date) -> list[ReconciliationRow]:
    """Per merchant: what terminals recorded for the date against what was cleared, and the
    taps' outstanding total against the ledger balance of the acquired account."""
    rows: list[ReconciliationRow] = []
    day_start = dt.datetime.combine(business_date, dt.time(), tzinfo=_LOCAL)
    for merchant in list_merchants(session):
        day = list(
            session.scalars(
                select(Tap).where(
                    Tap.merchant_id == merchant.id, Tap.business_date == business_date
                )
            )
        )
        run = session.scalar(
            select(ClearingRun).where(
                ClearingRun.merchant_id == merchant.id,
                ClearingRun.business_date == business_date,
            )
        )
        cleared = (
            list(session.scalars(select(Tap).where(Tap.cleared_run_id == run.id)))
            if run is not None
            else []
        )
        charged_uncleared = session.scalar(
            select(func.coalesce(func.sum(Tap.amount), 0)).where(
                Tap.merchant_id == merchant.id,
                Tap.transfer_id.is_not(None),
                Tap.cleared_run_id.is_(None),
            )
        )
        reversed_uncleared = session.scalar(
            select(func.coalesce(func.sum(Tap.amount - Tap.refunded), 0)).where(
                Tap.merchant_id == merchant.id,
                Tap.reversal_transfer_id.is_not(None),
                Tap.reversal_run_id.is_(None),
            )
        )
        refunded_uncleared = session.scalar(
            select(func.coalesce(func.sum(FareAdjustment.amount), 0)).where(
                FareAdjustment.merchant_id == merchant.id,
                FareAdjustment.transfer_id.is_not(None),
                FareAdjustment.run_id.is_(None),
            )
        )
        duplicates = session.scalar(
            select(func.coalesce(func.sum(UploadBatch.duplicates), 0))
            .join(Terminal, Terminal.id == UploadBatch.terminal_id)
            .where(
                Terminal.merchant_id == merchant.id,
                UploadBatch.uploaded_at >= day_start,
                UploadBatch.uploaded_at < day_start + dt.timedelta(days=1),
            )
        )
        if not day and run is None:
            continue
        approved = [t for t in day if t.status is TapStatus.APPROVED]
        reversed_ = [t for t in day if t.status is TapStatus.REVERSED]
        debts = [t for t in day if t.status is TapStatus.DEBT]
        rows.append(
            ReconciliationRow(
                merchant=merchant.code,
                business_date=business_date,
                taps_recorded=len(day),
                approved=len(approved),
                approved_amount=sum(t.amount for t in approved if t.transfer_id is not None),
                declined=sum(1 for t in day if t.status is TapStatus.DECLINED),
                debts=len(debts),
                debt_amount=sum(t.amount - t.refunded for t in debts),
                reversed=len(reversed_),
                cleared_taps=len(cleared),
                cleared_amount=sum(t.amount for t in cleared),
                cleared_from_earlier_days=sum(
                    t.amount for t in cleared if t.business_date < business_date
                ),
                awaiting_clearing=sum(
                    t.amount
                    for t in day
                    if t.transfer_id is not None and (run is None or t.cleared_run_id != run.id)
                ),
                outstanding_expected=int(charged_uncleared or 0)
                - int(reversed_uncleared or 0)
                - int(refunded_uncleared or 0),
                outstanding_ledger=int(ledger.balance(session, merchant.acquired_account_id)),
                duplicates_rejected=int(duplicates or 0),
                reversed_amount_of_day=sum(t.amount for t in reversed_),
            )
        )
    return rows


def ride_life_signs(
    session: Session, *, since: dt.date, until: dt.date
) -> list[tuple[int, dt.date]]:
    """(resident, latest local day) of the rides between ``since`` and ``until``: taps charged
    or owed at bus and metro terminals (the rides the fare rules price). Evidence of life for
    qualification certification (资格认证); a payment at a canteen till, a venue or a shop is
    not a ride."""
    tap, merchant = Tap, Merchant
    query = (
        select(tap.resident_id, func.max(tap.business_date))
        .join(merchant, merchant.id == tap.merchant_id)
        .where(
            merchant.kind.in_(sorted(TRANSIT_KINDS)),
            tap.resident_id.is_not(None),
            tap.status.in_(_RIDES),
            tap.business_date >= since,
            tap.business_date <= until,
        )
        .group_by(tap.resident_id)
    )
    return [(int(rid), day) for rid, day in session.execute(query) if rid is not None and day]
