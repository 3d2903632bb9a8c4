"""HTTP API of venues (一卡通游).

Three faces: gates (``/api/v1/terminal/venue-entries``) sign every request with their terminal
key like any acquiring terminal; residents browse the catalogue, buy tickets and passes and see
their own (``/api/v1/venues/…``, ``/api/v1/venues/my/…``); staff keep the catalogue. Prices come
in as yuan strings and go out as integer fen.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from yikatong.acquiring.api import SIGNED, as_terminal
from yikatong.acquiring.models import Terminal
from yikatong.api.auth import Principal, current_principal, require
from yikatong.api.deps import MAX_ROW_ID, SessionDep
from yikatong.core import clock
from yikatong.core.errors import Forbidden, InvalidInput
from yikatong.core.money import parse_yuan
from yikatong.venues import service
from yikatong.venues.models import (
    AnnualPass,
    Entry,
    ProductKind,
    Ticket,
    TimeSlot,
    Venue,
    VenueCategory,
    VenueProduct,
)

router = APIRouter(tags=["venues"])

PrincipalDep = Annotated[Principal, Depends(current_principal)]
_STAFF_READ = require("clerk", "auditor", "admin")
_STAFF_WRITE = require("admin")
_SELLERS = ("clerk", "admin")
MAX_SEQ = 2**62 - 1
_LOCAL = dt.timezone(dt.timedelta(hours=8))
Code = Annotated[str, Field(min_length=2, max_length=32, pattern=r"^[a-z0-9][a-z0-9-]{1,31}$")]


# --------------------------------------------------------------------------- shapes


class VenueOut(BaseModel):
    code: str
    name: str
    category: VenueCategory
    district_code: str | None
    address: str | None

    @classmethod
    def of(cls, venue: Venue) -> VenueOut:
        return cls.model_validate(venue, from_attributes=True)


class ProductOut(BaseModel):
    code: str
    venue: str
    kind: ProductKind
    name: str
    price: int = Field(description="full price in fen")
    concessions: bool
    needs_slot: bool
    validity_days: int | None
    entry_limit: int | None


def _product_out(product: VenueProduct, venue_code: str) -> ProductOut:
    return ProductOut(
        code=product.code,
        venue=venue_code,
        kind=product.kind,
        name=product.name,
        price=product.price,
        concessions=product.concessions,
        needs_slot=product.needs_slot,
        validity_days=product.validity_days,
        entry_limit=product.entry_limit,
    )


class SlotOut(BaseModel):
    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    booked: int
    free: int

    @classmethod
    def of(cls, slot: TimeSlot) -> SlotOut:
        return cls(
            id=slot.id,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            capacity=slot.capacity,
            booked=slot.booked,
            free=slot.capacity - slot.booked,
        )


class TicketOut(BaseModel):
    reference: str | None
    venue_id: int
    product_id: int
    valid_on: dt.date
    slot_id: int | None
    full_price: int
    amount: int
    concession: str
    status: str
    transfer_id: int | None
    purchased_at: dt.datetime
    used_at: dt.datetime | None

    @classmethod
    def of(cls, ticket: Ticket) -> TicketOut:
        return cls(
            reference=ticket.reference,
            venue_id=ticket.venue_id,
            product_id=ticket.product_id,
            valid_on=ticket.valid_on,
            slot_id=ticket.slot_id,
            full_price=ticket.full_price,
            amount=ticket.amount,
            concession=ticket.concession,
            status=ticket.status.value,
            transfer_id=ticket.transfer_id,
            purchased_at=ticket.purchased_at,
            used_at=ticket.used_at,
        )


class PassOut(BaseModel):
    reference: str | None
    venue_id: int
    product_id: int
    valid_from: dt.date
    valid_until: dt.date
    entry_limit: int
    entries_used: int
    full_price: int
    amount: int
    concession: str
    transfer_id: int | None
    purchased_at: dt.datetime

    @classmethod
    def of(cls, held: AnnualPass) -> PassOut:
        return cls.model_validate(held, from_attributes=True)


class EntryOut(BaseModel):
    entry_id: int
    scan_seq: int
    venue: str
    decision: str = Field(description="open (admitted or duplicate) or refuse")
    outcome: str
    reason: str
    resident_id: int | None
    id_verified: bool
    ticket_id: int | None
    pass_id: int | None
    at: dt.datetime
    details: dict[str, Any]


def _entry_out(entry: Entry, venue_code: str) -> EntryOut:
    return EntryOut(
        entry_id=entry.id,
        scan_seq=entry.scan_seq,
        venue=venue_code,
        decision="refuse" if entry.outcome is service.EntryOutcome.REFUSED else "open",
        outcome=entry.outcome.value,
        reason=entry.reason,
        resident_id=entry.resident_id,
        id_verified=entry.id_verified,
        ticket_id=entry.ticket_id,
        pass_id=entry.pass_id,
        at=entry.at,
        details=dict(entry.details or {}),
    )


# --------------------------------------------------------------------------- gate face


class ScanIn(BaseModel):
    scan_seq: int = Field(ge=1, le=MAX_SEQ, description="The gate's own scan counter")
    card_no: str | None = Field(default=None, min_length=9, max_length=9)
    qr: str | None = Field(default=None, min_length=1, max_length=512, description="e-SSC code")
    id_number: str | None = Field(
        default=None, min_length=18, max_length=18, description="read from the ID card, if any"
    )
    reference: str | None = Field(
        default=None, min_length=3, max_length=16, description="ticket or pass scanned, if any"
    )

    @model_validator(mode="after")
    def _one_medium(self) -> ScanIn:
        if (self.card_no is None) == (self.qr is None):
            raise ValueError("present either card_no or qr")
        return self


@router.post("/api/v1/terminal/venue-entries", response_model=EntryOut, dependencies=[SIGNED])
async def scan(request: Request, body: ScanIn) -> EntryOut:
    """Entry check at a venue gate: open (ticket or pass of the holder) or refuse with a reason."""

    def work(session: Session, terminal: Terminal) -> EntryOut:
        entry = service.check_entry(
            session,
            terminal,
            scan_seq=body.scan_seq,
            card_no=body.card_no.upper() if body.card_no else None,
            qr=body.qr,
            id_number=body.id_number.upper() if body.id_number else None,
            reference=body.reference,
        )
        return _entry_out(entry, service.gate_venue(session, terminal).code)

    return await as_terminal(request, work)


# --------------------------------------------------------------------------- resident face


def _resident_of(principal: Principal, resident_id: int | None) -> int:
    """Residents act for themselves; clerks (a ticket counter) name the resident."""
    if principal.has(*_SELLERS, "auditor"):
        if resident_id is None:
            raise InvalidInput("staff name the resident (resident_id)", field="resident_id")
        return resident_id
    if principal.has("resident") and principal.resident_id is not None:
        if resident_id not in (None, principal.resident_id):
            raise Forbidden("you can buy and see your own tickets and passes only")
        return principal.resident_id
    raise Forbidden("tickets and passes are for residents and staff")


def _no_auditor_purchase(principal: Principal) -> None:
    if principal.has("auditor") and not principal.has(*_SELLERS, "resident"):
        raise Forbidden("auditors read; they do not buy")


@router.get("/api/v1/venues", response_model=list[VenueOut])
def venues(
    session: SessionDep,
    _: PrincipalDep,
    category: VenueCategory | None = None,
) -> list[VenueOut]:
    """The venue catalogue (场馆目录), optionally of one category."""
    return [VenueOut.of(v) for v in service.list_venues(session, category=category)]


@router.get("/api/v1/venues/{code}/products", response_model=list[ProductOut])
def products(code: Code, session: SessionDep, _: PrincipalDep) -> list[ProductOut]:
    return [_product_out(p, code) for p in service.list_products(session, code)]


@router.get("/api/v1/venues/{code}/slots", response_model=list[SlotOut])
def slots(
    code: Code, session: SessionDep, _: PrincipalDep, day: dt.date | None = None
) -> list[SlotOut]:
    """Time slots of a day (default today) with the places left."""
    when = day or clock.now().astimezone(_LOCAL).date()
    return [SlotOut.of(s) for s in service.slots_of(session, code, when)]


class QuoteOut(BaseModel):
    product: str
    full_price: int
    amount: int
    concession: str
    percent: int


@router.get("/api/v1/venues/products/{product}/quote", response_model=QuoteOut)
def price_quote(
    product: Code,
    session: SessionDep,
    principal: PrincipalDep,
    day: dt.date | None = None,
    resident_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> QuoteOut:
    """What the resident would pay (concession by age and card category on the day)."""
    rid = _resident_of(principal, resident_id)
    found = service.get_product(session, product)
    quoted = service.quote(session, rid, found, day or clock.now().astimezone(_LOCAL).date())
    return QuoteOut(
        product=found.code,
        full_price=quoted.full_price,
        amount=quoted.amount,
        concession=quoted.concession,
        percent=quoted.percent,
    )


class TicketIn(BaseModel):
    product: Code
    idempotency_key: str = Field(min_length=1, max_length=100)
    valid_on: dt.date | None = None
    slot_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    resident_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="staff only")


@router.post(
    "/api/v1/venues/tickets", status_code=status.HTTP_201_CREATED, response_model=TicketOut
)
def buy_ticket(body: TicketIn, session: SessionDep, principal: PrincipalDep) -> TicketOut:
    """Buy a ticket paid from the card's financial account (the same key never pays twice)."""
    _no_auditor_purchase(principal)
    rid = _resident_of(principal, body.resident_id)
    ticket = service.buy_ticket(
        session,
        rid,
        body.product,
        idempotency_key=body.idempotency_key,
        valid_on=body.valid_on,
        slot_id=body.slot_id,
    )
    return TicketOut.of(ticket)


class PassIn(BaseModel):
    product: Code
    idempotency_key: str = Field(min_length=1, max_length=100)
    starts_on: dt.date | None = None
    resident_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="staff only")


@router.post("/api/v1/venues/passes", status_code=status.HTTP_201_CREATED, response_model=PassOut)
def buy_pass(body: PassIn, session: SessionDep, principal: PrincipalDep) -> PassOut:
    """Buy an annual pass (年卡) paid from the card's financial account."""
    _no_auditor_purchase(principal)
    rid = _resident_of(principal, body.resident_id)
    held = service.buy_pass(
        session, rid, body.product, idempotency_key=body.idempotency_key, starts_on=body.starts_on
    )
    return PassOut.of(held)


@router.get("/api/v1/venues/my/tickets", response_model=list[TicketOut])
def my_tickets(
    session: SessionDep,
    principal: PrincipalDep,
    resident_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TicketOut]:
    rid = _resident_of(principal, resident_id)
    return [TicketOut.of(t) for t in service.tickets_of(session, rid, limit=limit)]


@router.get("/api/v1/venues/my/passes", response_model=list[PassOut])
def my_passes(
    session: SessionDep,
    principal: PrincipalDep,
    resident_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> list[PassOut]:
    rid = _resident_of(principal, resident_id)
    return [PassOut.of(p) for p in service.passes_of(session, rid)]


@router.get("/api/v1/venues/my/entries", response_model=list[EntryOut])
def my_entries(
    session: SessionDep,
    principal: PrincipalDep,
    resident_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EntryOut]:
    """The resident's scans at venue gates (入园记录), newest first."""
    rid = _resident_of(principal, resident_id)
    return [
        _entry_out(entry, venue.code)
        for entry, venue in service.entries_of_resident(session, rid, limit=limit)
    ]


# --------------------------------------------------------------------------- staff face


class VenueIn(BaseModel):
    code: Code
    name: str = Field(min_length=1, max_length=200, examples=["青岛市博物馆"])
    category: VenueCategory
    operator: Code = Field(description="acquiring merchant of kind venue")
    district_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    address: str | None = Field(default=None, max_length=200)


@router.post("/api/v1/venues", status_code=status.HTTP_201_CREATED, response_model=VenueOut)
def add_venue(body: VenueIn, session: SessionDep, _: Principal = _STAFF_WRITE) -> VenueOut:
    venue = service.add_venue(
        session,
        code=body.code,
        name=body.name,
        category=body.category,
        operator=body.operator,
        district_code=body.district_code,
        address=body.address,
    )
    return VenueOut.of(venue)


class ProductIn(BaseModel):
    code: Code
    kind: ProductKind
    name: str = Field(min_length=1, max_length=200)
    price: str = Field(max_length=24, examples=["20.00"], description="full price, yuan")
    concessions: bool = True
    needs_slot: bool = False
    validity_days: int | None = Field(default=None, ge=1, le=1098)
    entry_limit: int | None = Field(default=None, ge=1, le=10_000)


@router.post(
    "/api/v1/venues/{code}/products",
    status_code=status.HTTP_201_CREATED,
    response_model=ProductOut,
)
def add_product(
    code: Code, body: ProductIn, session: SessionDep, _: Principal = _STAFF_WRITE
) -> ProductOut:
    product = service.add_product(
        session,
        venue_code=code,
        code=body.code,
        kind=body.kind,
        name=body.name,
        price=parse_yuan(body.price, field="price"),
        concessions=body.concessions,
        needs_slot=body.needs_slot,
        validity_days=body.validity_days,
        entry_limit=body.entry_limit,
    )
    return _product_out(product, code)


class SlotsIn(BaseModel):
    day: dt.date
    first_start: dt.time = Field(examples=["09:00"], description="local time")
    minutes: int = Field(ge=5, le=1440)
    count: int = Field(ge=1, le=service.MAX_SLOTS)
    capacity: int = Field(ge=1, le=service.MAX_CAPACITY)


@router.post(
    "/api/v1/venues/{code}/slots",
    status_code=status.HTTP_201_CREATED,
    response_model=list[SlotOut],
)
def open_slots(
    code: Code, body: SlotsIn, session: SessionDep, _: Principal = _STAFF_WRITE
) -> list[SlotOut]:
    """Open consecutive time slots (预约时段) of a day with their capacity."""
    made = service.open_slots(
        session,
        code,
        day=body.day,
        first_start=body.first_start,
        minutes=body.minutes,
        count=body.count,
        capacity=body.capacity,
    )
    return [SlotOut.of(s) for s in made]


class GateIn(BaseModel):
    terminal_no: str = Field(min_length=4, max_length=32, examples=["GATE-MUSEUM-01"])
    algorithm: str = Field("Ed25519", pattern="^(Ed25519|SM2)$")


class GateOut(BaseModel):
    terminal_no: str
    venue: str
    algorithm: str
    public_key: str
    private_key: str | None = Field(description="hex; returned once, never stored")


@router.post(
    "/api/v1/venues/{code}/gates", status_code=status.HTTP_201_CREATED, response_model=GateOut
)
def add_gate(code: Code, body: GateIn, session: SessionDep, _: Principal = _STAFF_WRITE) -> GateOut:
    """Register an entry gate of the venue (a terminal of its operator with its own key)."""
    terminal, private = service.register_gate(
        session, code, body.terminal_no, algorithm=body.algorithm
    )
    return GateOut(
        terminal_no=terminal.terminal_no,
        venue=code,
        algorithm=terminal.algorithm,
        public_key=terminal.public_key.hex(),
        private_key=private.hex() if private else None,
    )


@router.get("/api/v1/venues/{code}/entries", response_model=list[EntryOut])
def entries(
    code: Code,
    session: SessionDep,
    day: dt.date | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    _: Principal = _STAFF_READ,
) -> list[EntryOut]:
    """Every scan at the venue's gates on a day (default today), newest first."""
    when = day or clock.now().astimezone(_LOCAL).date()
    return [_entry_out(e, code) for e in service.entries_at(session, code, when, limit=limit)]
