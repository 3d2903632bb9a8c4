"""Venues (一卡通游): catalogue, time slots, tickets and annual passes paid by card, and the
ID-verified entry check at the gate.

Money flow (ledger transfers, each with an idempotency key)::

    ticket   card:<no>:fin ──▶ merchant:<operator>:settle    key venue:ticket:<resident>:<key>
    pass     card:<no>:fin ──▶ merchant:<operator>:settle    key venue:pass:<resident>:<key>

The operator of a venue is an acquiring merchant of kind ``venue``. A purchase is settled when it
is made (not a terminal tap waiting for the daily clearing), so it is credited straight to the
operator's settlement account and the acquiring reconciliation of taps stays exact.

Entry (入园核验): a gate is an acquiring terminal of the operator whose ``line`` is the venue
code; it signs every request like any terminal. The holder is identified by the physical card or
an e-SSC code (实名制): the ticket or pass must belong to that person, so a pass lent to someone
else admits nobody. An ID number read at the gate, when sent, must be the holder's. Every scan is
recorded, admitted or not; a second scan of the same holder within the policy's window is a
duplicate (admitted, counted once). Admitted entries are evidence of life (``last_entries``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.acquiring import service as acquiring
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.essc import service as essc_service
from yikatong.essc.tokens import TokenRejected
from yikatong.ledger import service as ledger
from yikatong.registry import service as registry_service
from yikatong.venues.models import (
    AnnualPass,
    Entry,
    EntryOutcome,
    ProductKind,
    Ticket,
    TicketStatus,
    TimeSlot,
    Venue,
    VenueCategory,
    VenueProduct,
)
from yikatong.venues.policy import VenuePolicy, packaged_venue_policy, price_after

__all__ = [
    "MAX_PRICE",
    "AnnualPass",
    "Entry",
    "EntryOutcome",
    "ProductKind",
    "Quote",
    "SlotFull",
    "Ticket",
    "TicketStatus",
    "TimeSlot",
    "Venue",
    "VenueCategory",
    "VenueProduct",
    "add_product",
    "add_venue",
    "buy_pass",
    "buy_ticket",
    "check_entry",
    "entries_at",
    "entries_of_resident",
    "gate_venue",
    "get_product",
    "get_slot",
    "get_venue",
    "last_entries",
    "life_signs",
    "list_products",
    "list_venues",
    "open_slots",
    "passes_of",
    "policy_on",
    "quote",
    "register_gate",
    "slots_of",
    "tickets_of",
]

_LOCAL = dt.timezone(dt.timedelta(hours=8))
_CODE = re.compile(r"[a-z0-9][a-z0-9-]{1,31}")
_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
# Path words of the API next to venue codes (``/api/v1/venues/my/…``).
_RESERVED = frozenset({"my", "products", "tickets", "passes"})
MAX_PRICE = 10_000_000  # fen: 100,000 yuan, far above any ticket or pass
MAX_SLOTS = 96  # a day of 15-minute slots
MAX_SLOT_DAYS_AHEAD = 366
MAX_CAPACITY = 1_000_000


class SlotFull(Conflict):
    """The time slot has no place left (已约满)."""

    slug = "slot-full"
    title = "Time slot full"


def policy_on(on: dt.date, *, allow_illustrative: bool | None = None) -> VenuePolicy:
    """The venue policy of this node's city in force on a date (illustrative values: demo only,
    unless ``allow_illustrative`` says otherwise)."""
    node = current_node.current()
    allow = node.settings.demo if allow_illustrative is None else allow_illustrative
    return packaged_venue_policy(node.city_code, on, allow_illustrative=allow)


def _local_today() -> dt.date:
    return clock.now().astimezone(_LOCAL).date()


# --------------------------------------------------------------------------- catalogue


def _check_code(code: str, what: str, example: str) -> str:
    code = code.strip()
    if not _CODE.fullmatch(code):
        raise InvalidInput(
            f"a {what} code is 2–32 lower-case letters, digits or '-', e.g. {example}",
            field="code",
        )
    return code


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("give the name (1–200 characters)", field="name")
    return name


def add_venue(
    session: Session,
    *,
    code: str,
    name: str,
    category: VenueCategory | str,
    operator: str,
    district_code: str | None = None,
    address: str | None = None,
) -> Venue:
    """Add a venue to the catalogue, operated by the acquiring merchant ``operator`` (kind venue)."""
    code = _check_code(code, "venue", "qd-museum")
    if code in _RESERVED:
        raise InvalidInput(
            f"{code!r} is a reserved word of the API; choose another code", field="code"
        )
    name = _check_name(name)
    try:
        category = VenueCategory(category)
    except ValueError:
        raise InvalidInput(
            f"category is one of {', '.join(c.value for c in VenueCategory)}", field="category"
        ) from None
    if district_code is not None and not re.fullmatch(r"\d{6}", district_code):
        raise InvalidInput("a district code is 6 digits, e.g. 370202", field="district_code")
    if address is not None and len(address) > 200:
        raise InvalidInput("an address is at most 200 characters", field="address")
    merchant = acquiring.get_merchant(session, operator)
    if merchant.kind is not acquiring.MerchantKind.VENUE:
        raise Conflict(
            f"merchant {operator} is a {merchant.kind} merchant; register the venue operator "
            "as a merchant of kind venue first",
            merchant=operator,
        )
    if session.scalar(select(Venue.id).where(Venue.code == code)) is not None:
        raise Conflict(f"venue {code} already exists; choose another code", code=code)
    venue = Venue(
        code=code,
        name=name,
        category=category,
        district_code=district_code,
        address=address,
        merchant_id=merchant.id,
        active=True,
        created_at=clock.now(),
    )
    session.add(venue)
    session.flush()
    return venue


def get_venue(session: Session, code: str) -> Venue:
    venue = session.scalar(select(Venue).where(Venue.code == code.strip()))
    if venue is None:
        raise NotFound(f"no venue {code!r}; list them with `ykt venue list`", code=code)
    return venue


def list_venues(session: Session, *, category: VenueCategory | str | None = None) -> list[Venue]:
    query = select(Venue).where(Venue.active.is_(True)).order_by(Venue.category, Venue.code)
    if category is not None:
        try:
            query = query.where(Venue.category == VenueCategory(category))
        except ValueError:
            raise InvalidInput(
                f"category is one of {', '.join(c.value for c in VenueCategory)}",
                field="category",
            ) from None
    return list(session.scalars(query))


def operator_of(session: Session, venue: Venue) -> acquiring.Merchant:
    merchant = session.get(acquiring.Merchant, venue.merchant_id)
    assert merchant is not None  # foreign key
    return merchant


def add_product(
    session: Session,
    *,
    venue_code: str,
    code: str,
    kind: ProductKind | str,
    name: str,
    price: int,
    concessions: bool = True,
    needs_slot: bool = False,
    validity_days: int | None = None,
    entry_limit: int | None = None,
) -> VenueProduct:
    """Add a ticket or an annual pass to a venue's catalogue; ``price`` is the full price in fen."""
    venue = get_venue(session, venue_code)
    code = _check_code(code, "product", "qd-museum-adult")
    name = _check_name(name)
    try:
        kind = ProductKind(kind)
    except ValueError:
        raise InvalidInput("kind is ticket or annual_pass", field="kind") from None
    if isinstance(price, bool) or not isinstance(price, int) or not 0 <= price <= MAX_PRICE:
        raise InvalidInput(f"a price is between 0 and {MAX_PRICE // 100} yuan", field="price")
    if kind is ProductKind.ANNUAL_PASS:
        if needs_slot:
            raise InvalidInput("an annual pass is not bound to a time slot", field="needs_slot")
        limit = policy_on(_local_today()).passes.max_validity_days
        if validity_days is None or not 1 <= validity_days <= limit:
            raise InvalidInput(f"an annual pass is valid for 1–{limit} days", field="validity_days")
        if entry_limit is None or not 1 <= entry_limit <= 10_000:
            raise InvalidInput("an annual pass allows 1–10000 entries", field="entry_limit")
    elif validity_days is not None or entry_limit is not None:
        raise InvalidInput(
            "validity and entry limit belong to annual passes; a ticket is valid one day",
            field="validity_days" if validity_days is not None else "entry_limit",
        )
    if session.scalar(select(VenueProduct.id).where(VenueProduct.code == code)) is not None:
        raise Conflict(f"product {code} already exists; choose another code", code=code)
    product = VenueProduct(
        code=code,
        venue_id=venue.id,
        kind=kind,
        name=name,
        price=price,
        concessions=concessions,
        needs_slot=needs_slot,
        validity_days=validity_days,
        entry_limit=entry_limit,
        active=True,
        created_at=clock.now(),
    )
    session.add(product)
    session.flush()
    return product


def get_product(session: Session, code: str) -> VenueProduct:
    product = session.scalar(select(VenueProduct).where(VenueProduct.code == code.strip()))
    if product is None or not product.active:
        raise NotFound(f"no product {code!r}; see the venue's products", code=code)
    return product


def list_products(session: Session, venue_code: str) -> list[VenueProduct]:
    venue = get_venue(session, venue_code)
    return list(
        session.scalars(
            select(VenueProduct)
            .where(VenueProduct.venue_id == venue.id, VenueProduct.active.is_(True))
            .order_by(VenueProduct.id)
        )
    )


def open_slots(
    session: Session,
    venue_code: str,
    *,
    day: dt.date,
    first_start: dt.time,
    minutes: int,
    count: int,
    capacity: int,
) -> list[TimeSlot]:
    """Open ``count`` consecutive time slots of ``minutes`` from ``first_start`` (local time)."""
    venue = get_venue(session, venue_code)
    if not 5 <= minutes <= 24 * 60:
        raise InvalidInput("a slot lasts 5 minutes to a day", field="minutes")
    if not 1 <= count <= MAX_SLOTS:
        raise InvalidInput(f"open 1–{MAX_SLOTS} slots at a time", field="count")
    if not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidInput(f"a slot holds 1–{MAX_CAPACITY} people", field="capacity")
    if not _local_today() <= day <= _local_today() + dt.timedelta(days=MAX_SLOT_DAYS_AHEAD):
        raise InvalidInput(
            f"slots are opened for today up to {MAX_SLOT_DAYS_AHEAD} days ahead", field="day"
        )
    start = dt.datetime.combine(day, first_start.replace(tzinfo=None), tzinfo=_LOCAL)
    slots: list[TimeSlot] = []
    for n in range(count):
        begins = start + dt.timedelta(minutes=minutes * n)
        if begins.date() != day:
            raise InvalidInput("the slots must start on the day they are opened for", field="count")
        slots.append(
            TimeSlot(
                venue_id=venue.id,
                starts_at=begins.astimezone(dt.UTC),
                ends_at=(begins + dt.timedelta(minutes=minutes)).astimezone(dt.UTC),
                day=day,
                capacity=capacity,
                booked=0,
            )
        )
    starts = [s.starts_at for s in slots]
    taken = session.scalar(
        select(func.count())
        .select_from(TimeSlot)
        .where(TimeSlot.venue_id == venue.id, TimeSlot.starts_at.in_(starts))
    )
    if taken:
        raise Conflict(
            f"{taken} of these slots of {venue.code} on {day.isoformat()} are already open",
            venue=venue.code,
        )
    session.add_all(slots)
    session.flush()
    return slots


def slots_of(session: Session, venue_code: str, day: dt.date) -> list[TimeSlot]:
    venue = get_venue(session, venue_code)
    return list(
        session.scalars(
            select(TimeSlot)
            .where(TimeSlot.venue_id == venue.id, TimeSlot.day == day)
            .order_by(TimeSlot.starts_at)
        )
    )


def get_slot(session: Session, slot_id: int) -> TimeSlot:
    slot = session.get(TimeSlot, slot_id)
    if slot is None:
        raise NotFound(f"no time slot {slot_id}; list the venue's slots of the day", slot=slot_id)
    return slot


def register_gate(
    session: Session, venue_code: str, terminal_no: str, *, algorithm: str = "Ed25519"
) -> tuple[acquiring.Terminal, bytes | None]:
    """Register an entry gate (闸机) of a venue: a terminal of its operator serving the venue."""
    venue = get_venue(session, venue_code)
    merchant = operator_of(session, venue)
    return acquiring.register_terminal(
        session,
        terminal_no=terminal_no,
        merchant_code=merchant.code,
        algorithm=algorithm,
        line=venue.code,
    )


def gate_venue(session: Session, terminal: acquiring.Terminal) -> Venue:
    """The venue a gate serves; Conflict for a terminal that is no venue gate."""
    merchant = acquiring.merchant_of(session, terminal)
    venue = (
        session.scalar(select(Venue).where(Venue.code == terminal.line)) if terminal.line else None
    )
    if (
        merchant.kind is not acquiring.MerchantKind.VENUE
        or venue is None
        or venue.merchant_id != merchant.id
    ):
        raise Conflict(
            f"terminal {terminal.terminal_no} is not an entry gate of a venue; register gates "
            "with `ykt venue add-gate`",
            terminal=terminal.terminal_no,
        )
    return venue


# --------------------------------------------------------------------------- purchases


@dataclass(frozen=True, slots=True)
class Quote:
    """What a holder pays for a product on a day, and which concession (优惠) applied."""

    full_price: int
    amount: int
    concession: str
    percent: int


def quote(session: Session, resident_id: int, product: VenueProduct, on: dt.date) -> Quote:
    if not product.concessions:
        return Quote(product.price, product.price, "none", 100)
    resident = registry_service.get_resident(session, resident_id)
    flags = {
        name
        for name, held in (
            ("disabled", resident.disabled),
            ("veteran", resident.veteran),
            ("student", resident.student),
        )
        if held
    }
    name, percent = policy_on(on).concession(resident.birth_date, flags, on)
    return Quote(product.price, price_after(product.price, percent), name, percent)


def _scoped_key(resident_id: int, idempotency_key: str) -> str:
    if not _KEY.fullmatch(idempotency_key):
        raise InvalidInput(
            "an idempotency key is 1–100 letters, digits or . _ : -", field="idempotency_key"
        )
    return f"{resident_id}:{idempotency_key}"


def _paying_card(session: Session, resident_id: int) -> str:
    resident = registry_service.get_resident(session, resident_id)
    if resident.status != registry_service.ResidentStatus.ACTIVE:
        raise Conflict(f"resident {resident_id} is {resident.status}; nothing can be bought")
    card = cards_service.current_card_of(session, resident_id)
    if card is None or card.state != "active":
        state = "none" if card is None else str(card.state)
        raise Conflict(
            f"resident {resident_id} holds no active card ({state}); tickets are paid from the "
            "card's financial account and entry is checked against it",
            card_state=state,
        )
    return card.card_no


def _pay(
    session: Session,
    *,
    key: str,
    card_no: str,
    venue: Venue,
    amount: int,
    metadata: dict[str, Any],
) -> int | None:
    if amount == 0:
        return None
    merchant = operator_of(session, venue)
    try:
        transfer = ledger.post_transfer(
            session,
            ledger.TransferRequest(
                idempotency_key=key,
                debit_account_id=acquiring.card_account(session, card_no, "fin"),
                credit_account_id=merchant.settlement_account_id,
                amount=amount,
                metadata=metadata,
            ),
        )
    except ledger.InsufficientFunds:
        raise ledger.InsufficientFunds(
            f"the financial account of card {card_no} cannot pay {amount / 100:.2f} yuan; "
            "pay money into it at the bank first",
            amount=amount,
        ) from None
    return transfer.id


def _book(session: Session, slot: TimeSlot) -> None:
    """Take one place of the slot: a conditional update, so that concurrent bookings of the
    last place cannot both succeed (the second re-reads the row after the first commits)."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(TimeSlot)
            .where(TimeSlot.id == slot.id, TimeSlot.booked < TimeSlot.capacity)
            .values(booked=TimeSlot.booked + 1)
        ),
    )
    if result.rowcount != 1:
        raise SlotFull(
            f"the slot {slot.starts_at.astimezone(_LOCAL):%Y-%m-%d %H:%M} is fully booked; "
            "choose another slot",
            slot=slot.id,
        )


def buy_ticket(
    session: Session,
    resident_id: int,
    product_code: str,
    *,
    idempotency_key: str,
    valid_on: dt.date | None = None,
    slot_id: int | None = None,
) -> Ticket:
    """Buy a ticket (购票) for the resident, paid from their card's financial account.

    A product that needs a slot books one place of ``slot_id`` (never more than its capacity);
    the concession of the venue policy follows the holder's age and card category on the day.
    The same key answers the first purchase; it is never paid twice.
    """
    key = _scoped_key(resident_id, idempotency_key)
    product = get_product(session, product_code)
    if product.kind is not ProductKind.TICKET:
        raise InvalidInput(f"{product.code} is an annual pass; buy it as a pass", field="product")
    slot: TimeSlot | None = None
    if product.needs_slot:
        if slot_id is None:
            raise InvalidInput(f"{product.code} needs a time slot; choose one", field="slot_id")
        slot = get_slot(session, slot_id)
        if slot.venue_id != product.venue_id:
            raise InvalidInput("the slot belongs to another venue", field="slot_id")
        if valid_on is not None and valid_on != slot.day:
            raise InvalidInput("the date is the slot's day", field="valid_on")
        valid_on = slot.day
    elif slot_id is not None:
        raise InvalidInput(f"{product.code} is not sold by time slot", field="slot_id")
    today = _local_today()
    day = valid_on or today
    earlier = session.scalar(select(Ticket).where(Ticket.idempotency_key == key))
    if earlier is not None:
        if (earlier.product_id, earlier.slot_id, earlier.valid_on) != (product.id, slot_id, day):
            raise Conflict(
                f"idempotency key {idempotency_key!r} was used for another ticket",
                ticket=earlier.reference,
            )
        return earlier
    horizon = policy_on(day if day >= today else today).booking.horizon_days
    if not today <= day <= today + dt.timedelta(days=horizon):
        raise InvalidInput(
            f"tickets are sold for today up to {horizon} days ahead", field="valid_on"
        )
    if slot is not None and slot.ends_at <= clock.now():
        raise InvalidInput("this slot is over; choose a later one", field="slot_id")
    venue = session.get(Venue, product.venue_id)
    assert venue is not None
    card_no = _paying_card(session, resident_id)
    priced = quote(session, resident_id, product, day)
    ticket = Ticket(
        idempotency_key=key,
        product_id=product.id,
        venue_id=venue.id,
        resident_id=resident_id,
        card_no=card_no,
        slot_id=slot.id if slot else None,
        valid_on=day,
        full_price=priced.full_price,
        amount=priced.amount,
        concession=priced.concession,
        status=TicketStatus.VALID,
        transfer_id=None,
        purchased_at=clock.now(),
    )
    # One savepoint for place, ticket and payment: a full slot, a card that cannot pay or a
    # concurrent purchase under the same key leaves nothing behind, whatever the caller does.
    try:
        with session.begin_nested():
            if slot is not None:
                _book(session, slot)
            session.add(ticket)
            session.flush()
            ticket.reference = f"VT{ticket.id:08d}"
            ticket.transfer_id = _pay(
                session,
                key=f"venue:ticket:{key}",
                card_no=card_no,
                venue=venue,
                amount=priced.amount,
                metadata={"venue": venue.code, "ticket": ticket.reference, "product": product.code},
            )
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"a purchase with key {idempotency_key!r} was made at the same time; "
            "ask for your tickets to see it"
        ) from None
    return ticket


def buy_pass(
    session: Session,
    resident_id: int,
    product_code: str,
    *,
    idempotency_key: str,
    starts_on: dt.date | None = None,
) -> AnnualPass:
    """Buy an annual pass (年卡) for the resident: valid ``validity_days`` from ``starts_on``
    (default today) for at most ``entry_limit`` entries. One pass of a product at a time."""
    key = _scoped_key(resident_id, idempotency_key)
    product = get_product(session, product_code)
    if product.kind is not ProductKind.ANNUAL_PASS:
        raise InvalidInput(f"{product.code} is a ticket; buy it as a ticket", field="product")
    assert product.validity_days is not None and product.entry_limit is not None
    today = _local_today()
    first = starts_on or today
    earlier = session.scalar(select(AnnualPass).where(AnnualPass.idempotency_key == key))
    if earlier is not None:
        if (earlier.product_id, earlier.valid_from) != (product.id, first):
            raise Conflict(
                f"idempotency key {idempotency_key!r} was used for another pass",
                pass_reference=earlier.reference,
            )
        return earlier
    horizon = policy_on(today).booking.horizon_days
    if not today <= first <= today + dt.timedelta(days=horizon):
        raise InvalidInput(f"a pass starts today or up to {horizon} days ahead", field="starts_on")
    last = first + dt.timedelta(days=product.validity_days - 1)
    overlapping = session.scalar(
        select(AnnualPass.reference).where(
            AnnualPass.resident_id == resident_id,
            AnnualPass.product_id == product.id,
            AnnualPass.valid_until >= first,
            AnnualPass.valid_from <= last,
        )
    )
    if overlapping is not None:
        raise Conflict(
            f"resident {resident_id} already holds pass {overlapping} of {product.code} for "
            "part of this period; buy the next one when it runs out",
            pass_reference=overlapping,
        )
    venue = session.get(Venue, product.venue_id)
    assert venue is not None
    card_no = _paying_card(session, resident_id)
    priced = quote(session, resident_id, product, first)
    held = AnnualPass(
        idempotency_key=key,
        product_id=product.id,
        venue_id=venue.id,
        resident_id=resident_id,
        card_no=card_no,
        valid_from=first,
        valid_until=last,
        entry_limit=product.entry_limit,
        entries_used=0,
        full_price=priced.full_price,
        amount=priced.amount,
        concession=priced.concession,
        transfer_id=None,
        purchased_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(held)
            session.flush()
            held.reference = f"VP{held.id:08d}"
            held.transfer_id = _pay(
                session,
                key=f"venue:pass:{key}",
                card_no=card_no,
                venue=venue,
                amount=priced.amount,
                metadata={"venue": venue.code, "pass": held.reference, "product": product.code},
            )
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"a purchase with key {idempotency_key!r} was made at the same time; "
            "ask for your passes to see it"
        ) from None
    return held


def tickets_of(session: Session, resident_id: int, *, limit: int = 100) -> list[Ticket]:
    """The resident's tickets, latest day first."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    return list(
        session.scalars(
            select(Ticket)
            .where(Ticket.resident_id == resident_id)
            .order_by(Ticket.valid_on.desc(), Ticket.id.desc())
            .limit(limit)
        )
    )


def passes_of(session: Session, resident_id: int) -> list[AnnualPass]:
    """The resident's annual passes, latest first."""
    return list(
        session.scalars(
            select(AnnualPass)
            .where(AnnualPass.resident_id == resident_id)
            .order_by(AnnualPass.valid_from.desc(), AnnualPass.id.desc())
        )
    )


# --------------------------------------------------------------------------- entry


@dataclass(frozen=True, slots=True)
class _Holder:
    resident_id: int
    card_no: str


class _Refused(Exception):
    def __init__(self, reason: str, holder: _Holder | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.holder = holder


def _holder_of_card(session: Session, card_no: str) -> _Holder:
    try:
        card = cards_service.get_card(session, card_no)
    except (NotFound, InvalidInput):
        raise _Refused("unknown-card") from None
    holder = _Holder(card.resident_id, card.card_no)
    if card.state != "active":
        raise _Refused(f"card-{card.state}", holder)
    return holder


def _holder_of_code(session: Session, text: str) -> _Holder:
    try:
        verdict = essc_service.verify_online(session, text)
    except TokenRejected as rejected:
        raise _Refused(f"qr-{rejected.reason.value}") from None
    card = cards_service.get_card_by_ref(session, verdict.claims.card_ref)
    return _Holder(card.resident_id, card.card_no)


def _slot_window(
    session: Session, ticket: Ticket, early: dt.timedelta
) -> tuple[dt.datetime, dt.datetime] | None:
    if ticket.slot_id is None:
        return None
    slot = get_slot(session, ticket.slot_id)
    return slot.starts_at - early, slot.ends_at


def check_entry(
    session: Session,
    terminal: acquiring.Terminal,
    *,
    scan_seq: int,
    card_no: str | None = None,
    qr: str | None = None,
    id_number: str | None = None,
    reference: str | None = None,
) -> Entry:
    """The entry check at a gate (入园核验), recorded whatever its outcome.

    Admits the holder of the card or e-SSC code with a valid ticket of the day (its slot open)
    or an annual pass with entries left; ``reference`` names the ticket or pass when the gate
    also scanned it, and it must be the holder's. Refusal reasons: ``unknown-card``,
    ``card-<state>``, ``qr-<reason>``, ``id-mismatch``, ``not-holder``, ``other-venue``,
    ``no-ticket``, ``ticket-used``, ``slot-not-started``, ``slot-over``, ``pass-expired``,
    ``pass-used-up``. A retry with the same ``scan_seq`` answers the recorded scan.
    """
    if isinstance(scan_seq, bool) or not isinstance(scan_seq, int) or not 1 <= scan_seq < 2**62:
        raise InvalidInput("the scan sequence is a positive integer", field="scan_seq")
    if (card_no is None) == (qr is None):
        raise InvalidInput("present either a card number or a QR code, not both", field="card_no")
    venue = gate_venue(session, terminal)
    existing = session.scalar(
        select(Entry).where(Entry.terminal_id == terminal.id, Entry.scan_seq == scan_seq)
    )
    if existing is not None:
        return existing
    now = clock.now()
    policy = policy_on(now.astimezone(_LOCAL).date())
    entry = Entry(
        venue_id=venue.id,
        terminal_id=terminal.id,
        scan_seq=scan_seq,
        medium="card" if card_no is not None else "qr",
        outcome=EntryOutcome.REFUSED,
        reason="",
        id_verified=False,
        at=now,
        business_date=acquiring.local_date(now),
        details={},
    )
    holder: _Holder | None = None
    try:
        holder = (
            _holder_of_card(session, card_no)
            if card_no is not None
            else _holder_of_code(session, cast(str, qr))
        )
        if id_number is not None:
            person = registry_service.find_by_id_number(session, id_number)
            if person is None or person.id != holder.resident_id:
                raise _Refused("id-mismatch", holder)
            entry.id_verified = True
        _admit(session, entry, venue, holder, reference, policy, now)
    except _Refused as refused:
        holder = refused.holder or holder
        entry.outcome, entry.reason = EntryOutcome.REFUSED, refused.reason
    if holder is not None:
        entry.resident_id, entry.card_no = holder.resident_id, holder.card_no
    session.add(entry)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # The same scan was recorded concurrently (a retry racing the first request).
        raise Conflict(
            f"scan {scan_seq} of gate {terminal.terminal_no} is being recorded; send it again",
            scan_seq=scan_seq,
        ) from None
    return entry


def _entitlements(
    session: Session, venue: Venue, holder: _Holder, reference: str | None, today: dt.date
) -> tuple[list[Ticket], list[AnnualPass]]:
    """The holder's tickets of the day and passes of the venue, locked (one gate decision per
    holder at a time); with ``reference`` only that one, after checking whose it is."""
    if reference is not None:
        reference = reference.strip().upper()
        found: Ticket | AnnualPass | None = None
        if reference.startswith("VT"):
            found = session.scalar(
                select(Ticket).where(Ticket.reference == reference).with_for_update()
            )
        elif reference.startswith("VP"):
            found = session.scalar(
                select(AnnualPass).where(AnnualPass.reference == reference).with_for_update()
            )
        if found is None:
            raise _Refused("no-ticket", holder)
        if found.resident_id != holder.resident_id:
            raise _Refused("not-holder", holder)
        if found.venue_id != venue.id:
            raise _Refused("other-venue", holder)
        if isinstance(found, Ticket):
            if found.valid_on != today:
                raise _Refused("no-ticket", holder)
            return [found], []
        return [], [found]
    tickets = list(
        session.scalars(
            select(Ticket)
            .where(
                Ticket.resident_id == holder.resident_id,
                Ticket.venue_id == venue.id,
                Ticket.valid_on == today,
            )
            .order_by(Ticket.id)
            .with_for_update()
        )
    )
    passes = list(
        session.scalars(
            select(AnnualPass)
            .where(AnnualPass.resident_id == holder.resident_id, AnnualPass.venue_id == venue.id)
            .order_by(AnnualPass.valid_until.desc(), AnnualPass.id)
            .with_for_update()
        )
    )
    return tickets, passes


def _admit(
    session: Session,
    entry: Entry,
    venue: Venue,
    holder: _Holder,
    reference: str | None,
    policy: VenuePolicy,
    now: dt.datetime,
) -> None:
    today = now.astimezone(_LOCAL).date()
    tickets, passes = _entitlements(session, venue, holder, reference, today)
    window = dt.timedelta(seconds=policy.entry.duplicate_window_seconds)
    recent = session.scalar(
        select(Entry)
        .where(
            Entry.resident_id == holder.resident_id,
            Entry.venue_id == venue.id,
            Entry.outcome == EntryOutcome.ADMITTED,
            Entry.at >= now - window,
        )
        .order_by(Entry.at.desc(), Entry.id.desc())
        .limit(1)
    )
    if recent is not None:
        entry.outcome, entry.reason = EntryOutcome.DUPLICATE, "duplicate"
        entry.ticket_id, entry.pass_id = recent.ticket_id, recent.pass_id
        entry.details = {"first_entry": recent.id}
        return
    early = dt.timedelta(minutes=policy.entry.early_minutes)
    refusal = "no-ticket"
    for ticket in tickets:
        if ticket.status is not TicketStatus.VALID:
            refusal = "ticket-used"
            continue
        opening = _slot_window(session, ticket, early)
        if opening is not None and now < opening[0]:
            refusal = "slot-not-started"
            continue
        if opening is not None and now > opening[1]:
            refusal = "slot-over"
            continue
        ticket.status, ticket.used_at = TicketStatus.USED, now
        entry.outcome, entry.reason, entry.ticket_id = EntryOutcome.ADMITTED, "ticket", ticket.id
        return
    for held in passes:
        if not held.valid_from <= today <= held.valid_until:
            refusal = "pass-expired" if refusal == "no-ticket" else refusal
            continue
        counted = cast(
            CursorResult[Any],
            session.execute(
                update(AnnualPass)
                .where(AnnualPass.id == held.id, AnnualPass.entries_used < AnnualPass.entry_limit)
                .values(entries_used=AnnualPass.entries_used + 1)
            ),
        )
        if counted.rowcount != 1:
            refusal = "pass-used-up"
            continue
        session.refresh(held)
        entry.outcome, entry.reason, entry.pass_id = EntryOutcome.ADMITTED, "pass", held.id
        entry.details = {"entries_used": held.entries_used, "entry_limit": held.entry_limit}
        return
    raise _Refused(refusal, holder)


# --------------------------------------------------------------------------- entry records


def entries_at(
    session: Session, venue_code: str, day: dt.date, *, limit: int = 1000
) -> list[Entry]:
    """Every scan at a venue's gates on a (local) day, latest first."""
    if not 1 <= limit <= 10_000:
        raise InvalidInput("limit must be between 1 and 10000", field="limit")
    venue = get_venue(session, venue_code)
    return list(
        session.scalars(
            select(Entry)
            .where(Entry.venue_id == venue.id, Entry.business_date == day)
            .order_by(Entry.at.desc(), Entry.id.desc())
            .limit(limit)
        )
    )


def entries_of_resident(
    session: Session,
    resident_id: int,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    admitted_only: bool = False,
    limit: int = 100,
) -> list[tuple[Entry, Venue]]:
    """A resident's scans at venue gates in ``[since, until)``, latest first, with the venue."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    query = (
        select(Entry, Venue)
        .join(Venue, Venue.id == Entry.venue_id)
        .where(Entry.resident_id == resident_id)
        .order_by(Entry.at.desc(), Entry.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Entry.at >= since)
    if until is not None:
        query = query.where(Entry.at < until)
    if admitted_only:
        query = query.where(Entry.outcome != EntryOutcome.REFUSED)
    return [(entry, venue) for entry, venue in session.execute(query)]


def last_entries(
    session: Session, resident_ids: Iterable[int], *, since: dt.datetime
) -> dict[int, dt.datetime]:
    """Evidence of life (静默认证): the latest admitted entry at any venue since ``since`` of each
    of these residents who has one. The holder was identified by card or e-SSC at the gate."""
    ids = list(dict.fromkeys(resident_ids))
    found: dict[int, dt.datetime] = {}
    for start in range(0, len(ids), 900):
        query = (
            select(Entry.resident_id, func.max(Entry.at))
            .where(
                Entry.resident_id.in_(ids[start : start + 900]),
                Entry.outcome == EntryOutcome.ADMITTED,
                Entry.at >= since,
            )
            .group_by(Entry.resident_id)
        )
        for resident_id, at in session.execute(query):
            if resident_id is not None:
                found[resident_id] = at
    return found


def life_signs(session: Session, *, since: dt.date, until: dt.date) -> list[tuple[int, dt.date]]:
    """(resident, latest local day) of the admissions at venue gates (the holder identified by
    card or e-SSC code at the gate):
    evidence of life for qualification certification (资格认证)."""
    entry = Entry
    query = (
        select(entry.resident_id, func.max(entry.business_date))
        .where(
            entry.resident_id.is_not(None),
            entry.outcome == EntryOutcome.ADMITTED,
            entry.business_date >= since,
            entry.business_date <= until,
        )
        .group_by(entry.resident_id)
    )
    return [(int(rid), day) for rid, day in session.execute(query) if rid is not None and day]
