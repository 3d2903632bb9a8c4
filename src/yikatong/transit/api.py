"""HTTP API of transit: rides from bus and metro terminals (signed, ``/api/v1/terminal/rides``),
and the rider's own face (``/api/v1/transit/…``): ride history, transport purse, top-ups, fares.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from yikatong.acquiring import service as acquiring
from yikatong.acquiring.api import SIGNED, Presented, TapOut, as_terminal
from yikatong.acquiring.models import Terminal
from yikatong.api.auth import Principal, current_principal, require
from yikatong.api.deps import MAX_ROW_ID, SessionDep
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.errors import Forbidden, InvalidInput, NotFound
from yikatong.core.money import parse_yuan
from yikatong.transit import ride_files, service

router = APIRouter(tags=["transit"])

PrincipalDep = Annotated[Principal, Depends(current_principal)]
_STAFF = ("clerk", "auditor", "admin")
_ADMIN = require("admin")
MAX_SEQ = 2**62 - 1


class RideIn(Presented):
    line: str | None = Field(default=None, min_length=1, max_length=32)
    entry: str | None = Field(default=None, min_length=1, max_length=64)
    exit: str | None = Field(default=None, min_length=1, max_length=64)


@router.post("/api/v1/terminal/rides", response_model=TapOut, dependencies=[SIGNED])
async def ride(body: RideIn, request: Request) -> TapOut:
    """Online authorisation of a ride: approve (fare charged) or decline with a reason code."""

    def authorise(session: Session, terminal: Terminal) -> TapOut:
        tap = service.authorise_ride(
            session,
            terminal,
            terminal_seq=body.terminal_seq,
            card_no=body.card_no,
            qr=body.qr,
            line=body.line,
            entry=body.entry,
            exit=body.exit,
        )
        return TapOut.of(tap)

    return await as_terminal(request, authorise)


class OfflineRideIn(BaseModel):
    terminal_seq: int = Field(ge=1, le=MAX_SEQ)
    card_no: str = Field(min_length=9, max_length=9)
    tapped_at: dt.datetime = Field(description="with its offset, e.g. 2025-03-10T08:01:00+08:00")
    line: str | None = Field(default=None, min_length=1, max_length=32)
    entry: str | None = Field(default=None, min_length=1, max_length=64)
    exit: str | None = Field(default=None, min_length=1, max_length=64)


class UploadIn(BaseModel):
    taps: list[OfflineRideIn] = Field(min_length=1, max_length=acquiring.MAX_BATCH)


class UploadCounts(BaseModel):
    """What became of an upload's taps."""

    upload_id: int
    received: int
    approved: int
    debts: int
    duplicates: int
    rejected: int
    fare_adjustments: int = Field(
        description="rides recorded before that were refunded part of their fare (补退) once "
        "this upload's earlier rides were known"
    )

    @staticmethod
    def counts(result: acquiring.UploadResult) -> dict[str, int]:
        """The counts of an upload, to build an answer from."""
        return {name: getattr(result, name) for name in UploadCounts.model_fields}


class UploadOut(UploadCounts):
    duplicate_seqs: list[int]
    taps: list[TapOut]


@router.post("/api/v1/terminal/rides/offline", response_model=UploadOut, dependencies=[SIGNED])
async def upload(request: Request, body: UploadIn) -> UploadOut:
    """Offline rides uploaded in a batch: duplicates are recognised, never charged twice."""

    def work(session: Session, terminal: Terminal) -> UploadOut:
        taps = []
        for index, item in enumerate(body.taps):
            if item.tapped_at.tzinfo is None:
                raise InvalidInput(
                    "give the tap time with its offset", field=f"taps[{index}].tapped_at"
                )
            details = {
                k: v
                for k, v in (("line", item.line), ("entry", item.entry), ("exit", item.exit))
                if v is not None
            }
            taps.append(
                acquiring.OfflineTap(
                    item.terminal_seq, item.card_no.upper(), item.tapped_at, details
                )
            )
        result = service.upload_rides(session, terminal, taps)
        return UploadOut(
            **UploadCounts.counts(result),
            duplicate_seqs=result.duplicate_seqs,
            taps=[TapOut.of(t) for t in result.taps],
        )

    return await as_terminal(request, work)


class FileUploadOut(UploadCounts):
    terminal_no: str


class RideFileOut(BaseModel):
    merchant: str
    rides: int
    uploads: list[FileUploadOut]


@router.post(
    "/api/v1/transit/operators/{merchant_code}/ride-files",
    response_model=RideFileOut,
    summary="An operator's ride file (交易文件): many terminals' offline rides in one CSV",
)
def upload_ride_file(
    merchant_code: Annotated[str, Path(min_length=2, max_length=32)],
    body: Annotated[bytes, Body(media_type="text/csv")],
    session: SessionDep,
    _: Principal = _ADMIN,
) -> RideFileOut:
    """Each terminal's rides are recorded as its upload, all priced together in the order they
    happened, in one transaction: a bad line refuses the whole file (422, with line numbers),
    and a file sent again charges nothing twice. The format is in ``transit.ride_files``."""
    parsed = ride_files.read_one_request(body)
    results = ride_files.upload_ride_file(session, merchant_code, parsed)
    return RideFileOut(
        merchant=merchant_code,
        rides=parsed.rides,
        uploads=[
            FileUploadOut(terminal_no=terminal_no, **UploadCounts.counts(r))
            for terminal_no, r in results
        ],
    )


# --------------------------------------------------------------------------- rider face


def _resident_of(principal: Principal, resident_id: int | None) -> int:
    """Residents see their own rides only; staff name the resident."""
    if principal.has(*_STAFF):
        if resident_id is None:
            raise InvalidInput("staff name the resident (resident_id)", field="resident_id")
        return resident_id
    if principal.has("resident") and principal.resident_id is not None:
        if resident_id not in (None, principal.resident_id):
            raise Forbidden("you can see your own rides only")
        return principal.resident_id
    raise Forbidden("ride history is for the rider and staff")


class RideOut(BaseModel):
    tap_id: int
    at: dt.datetime
    mode: str
    operator: str
    line: str | None
    entry: str | None
    exit: str | None
    full_fare: int
    fare: int = Field(description="what the ride costs now, after any fare adjustment")
    refunded: int = Field(description="fen refunded by fare adjustments (补退)")
    status: str
    reason: str


@router.get("/api/v1/transit/rides", response_model=list[RideOut])
def rides(
    session: SessionDep,
    principal: PrincipalDep,
    resident_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RideOut]:
    """Ride history (乘车记录), newest first."""
    rid = _resident_of(principal, resident_id)
    return [
        RideOut(
            tap_id=r.tap_id,
            at=r.at,
            mode=r.mode,
            operator=r.operator,
            line=r.line,
            entry=r.entry,
            exit=r.exit,
            full_fare=r.full_fare,
            fare=r.fare,
            refunded=r.refunded,
            status=r.status,
            reason=r.reason,
        )
        for r in service.ride_history(session, rid, limit=limit)
    ]


class PurseOut(BaseModel):
    card_no: str
    balance: int = Field(description="fen in the transport purse")


def _own_card(session: SessionDep, principal: Principal, resident_id: int | None) -> str:
    rid = _resident_of(principal, resident_id)
    card = cards_service.current_card_of(session, rid)
    if card is None:
        raise NotFound(f"resident {rid} holds no card; apply for one first")
    return card.card_no


@router.get("/api/v1/transit/purse", response_model=PurseOut)
def purse(
    session: SessionDep,
    principal: PrincipalDep,
    resident_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> PurseOut:
    card_no = _own_card(session, principal, resident_id)
    return PurseOut(card_no=card_no, balance=service.transport_balance(session, card_no))


class TopUpIn(BaseModel):
    amount: str = Field(max_length=24, examples=["50.00"], description="yuan")
    idempotency_key: str = Field(min_length=1, max_length=100)
    resident_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="staff only")


class TopUpOut(BaseModel):
    id: int
    card_no: str
    amount: int
    bank: str
    bank_reference: str
    transfer_id: int
    debts_collected: int
    balance: int
    at: dt.datetime


@router.post(
    "/api/v1/transit/top-ups", status_code=status.HTTP_201_CREATED, response_model=TopUpOut
)
def top_up(body: TopUpIn, session: SessionDep, principal: PrincipalDep) -> TopUpOut:
    """Top up the transport purse from the card's financial account (圈存)."""
    if principal.has("auditor") and not principal.has("clerk", "admin", "resident"):
        raise Forbidden("auditors read; they do not top up")
    card_no = _own_card(session, principal, body.resident_id)
    amount = parse_yuan(body.amount, field="amount")
    record = service.top_up(
        session, card_no=card_no, amount=amount, idempotency_key=body.idempotency_key
    )
    return TopUpOut(
        id=record.id,
        card_no=record.card_no,
        amount=record.amount,
        bank=record.bank,
        bank_reference=record.bank_reference,
        transfer_id=record.transfer_id,
        debts_collected=record.debts_collected,
        balance=service.transport_balance(session, card_no),
        at=record.at,
    )


class QuoteOut(BaseModel):
    full_fare: int
    fare: int
    distance_km: float | None
    steps: list[str]


@router.get("/api/v1/transit/fares/quote", response_model=QuoteOut)
def fare_quote(
    session: SessionDep,
    _: PrincipalDep,
    mode: Literal["bus", "metro"],
    line: Annotated[str, Query(min_length=1, max_length=32)],
    entry: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    exit: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
    at: dt.datetime | None = None,
) -> QuoteOut:
    """The fare of a ride for a card category (no history: first ride of the day)."""
    when = at or clock.now()
    if when.tzinfo is None:
        raise InvalidInput("give the time with its offset", field="at")
    quoted = service.quote(
        session, mode=mode, line=line, at=when, entry=entry, exit=exit, category=category
    )
    return QuoteOut(
        full_fare=quoted.full_fare,
        fare=quoted.fare,
        distance_km=quoted.distance_km,
        steps=quoted.steps,
    )
