"""HTTP API of acquiring (收单).

Two faces: terminals (``/api/v1/terminal/…``) authenticate every request with their own key —
headers ``X-Terminal``, ``X-Timestamp``, ``X-Sequence``, ``X-Signature`` over the exact body
(see ``service.signing_message``); staff (``/api/v1/acquiring/…``) use bearer tokens.
Amounts come in as yuan strings and go out as integer fen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import weakref
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from yikatong.acquiring import service
from yikatong.acquiring.models import FareAdjustment, MerchantKind, Tap, Terminal
from yikatong.api.auth import Principal, require
from yikatong.api.deps import RowId, SessionDep, get_node
from yikatong.cards import service as cards_service
from yikatong.core.errors import InvalidInput
from yikatong.core.money import parse_yuan

router = APIRouter(tags=["acquiring"])

_READ = require("clerk", "auditor", "admin")
_WRITE = require("admin")
_OPERATE = require("clerk", "admin")
MAX_SEQ = 2**62 - 1


_Answer = TypeVar("_Answer")


async def _signed(
    x_terminal: Annotated[str | None, Header(description="the terminal's number")] = None,
    x_timestamp: Annotated[str | None, Header(description="Unix time of the request, s")] = None,
    x_sequence: Annotated[str | None, Header(description="the terminal's request counter")] = None,
    x_signature: Annotated[
        str | None, Header(description="hex signature of the request (service.signing_message)")
    ] = None,
) -> None:
    """An unsigned request is refused (401) before its body is even looked at; the signature
    itself is checked in the request's own transaction (:func:`as_terminal`). A coroutine,
    though it awaits nothing: FastAPI runs a plain function dependency in a worker thread, one
    more thread hop on every terminal request."""
    service.require_signature_headers(x_terminal, x_timestamp, x_sequence, x_signature)


SIGNED = Depends(_signed)


def _terminal_lane(request: Request) -> CapacityLimiter:
    """How many terminal requests run their transaction at once: as many as the node keeps
    database connections (its pool's size, 5), so that none waits for a connection.

    The others wait their turn on the event loop, in order, holding nothing. They used to take
    threads of the shared pool (40) instead, each holding a connection while it queued for the
    write lock: 20 tills paying at once held 15 connections, and under a backlog connections
    beyond the pool were opened (a cold page cache each) and closed for every request, just
    when the server had the least time for it.
    """
    # One per event loop: a test client runs a loop of its own.
    lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] | None
    lanes = getattr(request.app.state, "terminal_lanes", None)
    if lanes is None:
        lanes = request.app.state.terminal_lanes = weakref.WeakKeyDictionary()
    loop = asyncio.get_running_loop()
    lane = lanes.get(loop)
    if lane is None:
        pool = get_node(request).engine.pool
        lane = lanes[loop] = CapacityLimiter(pool.size() if isinstance(pool, QueuePool) else 1)
    return lane


async def as_terminal(request: Request, work: Callable[[Session, Terminal], _Answer]) -> _Answer:
    """Authenticate the signing terminal, do ``work`` and commit, all in one worker-thread call.

    The hot path of a till or a validator. With the terminal checked in one thread, the handler
    run in another and the commit on the event loop, a transaction waited for the event loop
    twice while it held SQLite's single write lock, and every other terminal waited behind it.
    Here the write lock is held only while the request's own statements run. The commit still
    comes before the answer: nothing is acknowledged that is not durable.
    """
    body = await request.body()
    headers = request.headers
    node = get_node(request)

    def unit() -> _Answer:
        with node.transaction() as session:
            terminal = service.authenticate_terminal(
                session,
                terminal_no=headers.get("x-terminal"),
                timestamp=headers.get("x-timestamp"),
                seq=headers.get("x-sequence"),
                signature=headers.get("x-signature"),
                method=request.method,
                path=request.url.path,
                body=body,
            )
            return work(session, terminal)

    return await anyio.to_thread.run_sync(unit, limiter=_terminal_lane(request))


# --------------------------------------------------------------------------- shapes


class TapOut(BaseModel):
    tap_id: int
    terminal_seq: int
    decision: str = Field(description="approve or decline")
    status: str
    reason: str = Field(description="ok, or the decline reason code")
    amount: int = Field(description="fen charged (or owed, for a debt)")
    card_no: str | None
    tapped_at: dt.datetime
    channel: str
    transfer_id: int | None
    refunded: int = Field(description="fen given back since by fare adjustments (补退)")
    details: dict[str, Any]

    @classmethod
    def of(cls, tap: Tap) -> TapOut:
        return cls(
            tap_id=tap.id,
            terminal_seq=tap.terminal_seq,
            decision="approve" if tap.status.value == "approved" else "decline",
            status=tap.status.value,
            reason=tap.reason,
            amount=tap.amount,
            card_no=tap.card_no,
            tapped_at=tap.tapped_at,
            channel=tap.channel.value,
            transfer_id=tap.transfer_id,
            refunded=tap.refunded,
            details=dict(tap.details or {}),
        )


class Presented(BaseModel):
    terminal_seq: int = Field(ge=1, le=MAX_SEQ, description="The terminal's own tap counter")
    card_no: str | None = Field(default=None, min_length=9, max_length=9)
    qr: str | None = Field(default=None, min_length=1, max_length=512, description="e-SSC L2")

    @model_validator(mode="after")
    def _one_medium(self) -> Presented:
        if (self.card_no is None) == (self.qr is None):
            raise ValueError("present either card_no or qr")
        return self


class PaymentIn(Presented):
    amount: str = Field(max_length=24, examples=["12.50"], description="yuan")


# --------------------------------------------------------------------------- terminal face


@router.post("/api/v1/terminal/payments", response_model=TapOut, dependencies=[SIGNED])
async def pay(request: Request, body: PaymentIn) -> TapOut:
    """Online authorisation of a payment at a canteen, venue, hospital or shop terminal."""

    def work(session: Session, terminal: Terminal) -> TapOut:
        amount = parse_yuan(body.amount, field="amount")
        if amount <= 0:
            raise InvalidInput("the amount must be positive", field="amount")
        merchant = service.merchant_of(session, terminal)
        if merchant.kind in (MerchantKind.BUS, MerchantKind.METRO):
            raise InvalidInput(
                "bus and metro terminals send rides to /api/v1/terminal/rides", field="amount"
            )

        def fixed(*_: object) -> service.Priced:
            return service.Priced(amount, {"keyed_amount": amount})

        tap = service.authorise(
            session,
            terminal,
            terminal_seq=body.terminal_seq,
            card_no=body.card_no,
            qr=body.qr,
            price=fixed,
        )
        return TapOut.of(tap)

    return await as_terminal(request, work)


class DenyEntryOut(BaseModel):
    seq: int
    card_ref: str
    action: str
    at: dt.datetime


@router.get("/api/v1/terminal/deny-list", response_model=list[DenyEntryOut], dependencies=[SIGNED])
async def deny_list(
    request: Request,
    since: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[DenyEntryOut]:
    """Deny-list changes after ``since`` for the terminal's offline checks (黑名单下载)."""

    def work(session: Session, terminal: Terminal) -> list[DenyEntryOut]:
        return [
            DenyEntryOut(seq=e.seq, card_ref=e.card_ref, action=e.action, at=e.at)
            for e in cards_service.deny_list_since(session, since, limit)
        ]

    return await as_terminal(request, work)


# --------------------------------------------------------------------------- staff face


class MerchantIn(BaseModel):
    code: str = Field(min_length=2, max_length=32, examples=["qd-metro"])
    name: str = Field(min_length=1, max_length=200, examples=["青岛地铁"])
    kind: MerchantKind


class MerchantOut(BaseModel):
    id: int
    code: str
    name: str
    kind: MerchantKind
    acquired_account_id: int
    settlement_account_id: int


@router.post(
    "/api/v1/acquiring/merchants", status_code=status.HTTP_201_CREATED, response_model=MerchantOut
)
def add_merchant(body: MerchantIn, session: SessionDep, _: Principal = _WRITE) -> MerchantOut:
    merchant = service.register_merchant(session, code=body.code, name=body.name, kind=body.kind)
    return MerchantOut.model_validate(merchant, from_attributes=True)


@router.get("/api/v1/acquiring/merchants", response_model=list[MerchantOut])
def merchants(session: SessionDep, _: Principal = _READ) -> list[MerchantOut]:
    return [
        MerchantOut.model_validate(m, from_attributes=True) for m in service.list_merchants(session)
    ]


class TerminalIn(BaseModel):
    terminal_no: str = Field(min_length=4, max_length=32, examples=["BUS-0001"])
    merchant: str = Field(min_length=2, max_length=32)
    algorithm: str = Field("Ed25519", pattern="^(Ed25519|SM2)$")
    public_key: str | None = Field(
        default=None, max_length=128, description="hex; omitted: a key pair is made"
    )
    line: str | None = Field(default=None, min_length=1, max_length=32)


class TerminalOut(BaseModel):
    id: int
    terminal_no: str
    merchant: str
    algorithm: str
    public_key: str
    line: str | None
    state: str
    last_request_seq: int
    private_key: str | None = Field(
        default=None, description="hex; returned once at registration, never stored"
    )


def _terminal_out(
    terminal: Terminal, merchant_code: str, private: bytes | None = None
) -> TerminalOut:
    return TerminalOut(
        id=terminal.id,
        terminal_no=terminal.terminal_no,
        merchant=merchant_code,
        algorithm=terminal.algorithm,
        public_key=terminal.public_key.hex(),
        line=terminal.line,
        state=terminal.state.value,
        last_request_seq=terminal.last_request_seq,
        private_key=private.hex() if private else None,
    )


@router.post(
    "/api/v1/acquiring/terminals", status_code=status.HTTP_201_CREATED, response_model=TerminalOut
)
def add_terminal(body: TerminalIn, session: SessionDep, _: Principal = _WRITE) -> TerminalOut:
    public: bytes | None = None
    if body.public_key is not None:
        try:
            public = bytes.fromhex(body.public_key)
        except ValueError:
            raise InvalidInput("the public key is hex", field="public_key") from None
    terminal, private = service.register_terminal(
        session,
        terminal_no=body.terminal_no,
        merchant_code=body.merchant,
        algorithm=body.algorithm,
        public_key=public,
        line=body.line,
    )
    return _terminal_out(terminal, body.merchant, private)


@router.get("/api/v1/acquiring/terminals", response_model=list[TerminalOut])
def terminals(
    session: SessionDep,
    merchant: Annotated[str | None, Query(min_length=2, max_length=32)] = None,
    _: Principal = _READ,
) -> list[TerminalOut]:
    codes = {m.id: m.code for m in service.list_merchants(session)}
    return [
        _terminal_out(t, codes[t.merchant_id])
        for t in service.list_terminals(session, merchant_code=merchant)
    ]


@router.get("/api/v1/acquiring/taps/{tap_id}", response_model=TapOut)
def read_tap(tap_id: RowId, session: SessionDep, _: Principal = _READ) -> TapOut:
    return TapOut.of(service.get_tap(session, tap_id))


class FareAdjustmentOut(BaseModel):
    """A ride re-priced lower once an earlier ride of the card came in (补退)."""

    adjustment_id: int
    tap_id: int
    fare_before: int
    fare_after: int
    refunded: int = Field(description="fen back to the purse (or off a debt)")
    transfer_id: int | None = Field(description="the refund; none for a debt")
    cause_tap_id: int | None = Field(description="the earlier ride that came in late")
    steps: list[str]
    adjusted_at: dt.datetime
    cleared_in_run: int | None

    @classmethod
    def of(cls, adjustment: FareAdjustment) -> FareAdjustmentOut:
        return cls(
            adjustment_id=adjustment.id,
            tap_id=adjustment.tap_id,
            fare_before=adjustment.fare_before,
            fare_after=adjustment.fare_after,
            refunded=adjustment.amount,
            transfer_id=adjustment.transfer_id,
            cause_tap_id=adjustment.cause_tap_id,
            steps=list(adjustment.steps),
            adjusted_at=adjustment.adjusted_at,
            cleared_in_run=adjustment.run_id,
        )


@router.get(
    "/api/v1/acquiring/taps/{tap_id}/fare-adjustments", response_model=list[FareAdjustmentOut]
)
def tap_fare_adjustments(
    tap_id: RowId, session: SessionDep, _: Principal = _READ
) -> list[FareAdjustmentOut]:
    """The fare adjustments (补退) of a tap, newest first."""
    tap = service.get_tap(session, tap_id)
    return [FareAdjustmentOut.of(a) for a in service.fare_adjustments(session, tap_ids=[tap.id])]


class ReversalIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


@router.post("/api/v1/acquiring/taps/{tap_id}/reversal", response_model=TapOut)
def reverse(
    tap_id: RowId, body: ReversalIn, session: SessionDep, _: Principal = _OPERATE
) -> TapOut:
    """Reverse or refund a charged tap (冲正/退款): the card gets its money back."""
    return TapOut.of(service.reverse_tap(session, tap_id, reason=body.reason))


@router.get("/api/v1/acquiring/cards/{card_no}/debts", response_model=list[TapOut])
def debts(card_no: str, session: SessionDep, _: Principal = _READ) -> list[TapOut]:
    card = cards_service.get_card(session, card_no)
    return [TapOut.of(t) for t in service.card_debts(session, card.card_no)]


class ClearingRunOut(BaseModel):
    merchant: str
    business_date: dt.date
    taps: int
    gross: int
    reversals: int
    reversed_amount: int
    adjustments: int = Field(description="fare adjustments (补退) netted")
    adjusted_amount: int = Field(description="fen they refunded")
    net: int
    transfer_id: int | None


@router.post("/api/v1/acquiring/clearing/{business_date}", response_model=list[ClearingRunOut])
def clear(
    business_date: dt.date, session: SessionDep, _: Principal = _WRITE
) -> list[ClearingRunOut]:
    """Run the daily clearing of a date (idempotent: a second run answers the first)."""
    service.run_clearing(session, business_date)
    return [
        ClearingRunOut(merchant=code, **_run_fields(run))
        for run, code in service.list_clearing_runs(session, business_date)
    ]


def _run_fields(run: Any) -> dict[str, Any]:
    return {
        "business_date": run.business_date,
        "taps": run.taps,
        "gross": run.gross,
        "reversals": run.reversals,
        "reversed_amount": run.reversed_amount,
        "adjustments": run.adjustments,
        "adjusted_amount": run.adjusted_amount,
        "net": run.net,
        "transfer_id": run.transfer_id,
    }


@router.get(
    "/api/v1/acquiring/clearing/{business_date}/file",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def clearing_file(
    business_date: dt.date,
    session: SessionDep,
    merchant: Annotated[str | None, Query(min_length=2, max_length=32)] = None,
    _: Principal = _READ,
) -> PlainTextResponse:
    """The clearing file (CSV) of a date, optionally of one merchant."""
    text = service.clearing_csv(session, business_date, merchant)
    return PlainTextResponse(text, media_type="text/csv; charset=utf-8")


class ReconciliationOut(BaseModel):
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
    cleared_amount: int
    cleared_from_earlier_days: int
    awaiting_clearing: int
    outstanding_expected: int
    outstanding_ledger: int
    duplicates_rejected: int
    balanced: bool


@router.get(
    "/api/v1/acquiring/reconciliation/{business_date}", response_model=list[ReconciliationOut]
)
def reconciliation(
    business_date: dt.date, session: SessionDep, _: Principal = _READ
) -> list[ReconciliationOut]:
    """Uploads versus clearing per merchant (对账), and taps versus the ledger."""
    return [
        ReconciliationOut(
            merchant=r.merchant,
            business_date=r.business_date,
            taps_recorded=r.taps_recorded,
            approved=r.approved,
            approved_amount=r.approved_amount,
            declined=r.declined,
            debts=r.debts,
            debt_amount=r.debt_amount,
            reversed=r.reversed,
            cleared_taps=r.cleared_taps,
            cleared_amount=r.cleared_amount,
            cleared_from_earlier_days=r.cleared_from_earlier_days,
            awaiting_clearing=r.awaiting_clearing,
            outstanding_expected=r.outstanding_expected,
            outstanding_ledger=r.outstanding_ledger,
            duplicates_rejected=r.duplicates_rejected,
            balanced=r.balanced,
        )
        for r in service.reconcile(session, business_date)
    ]
