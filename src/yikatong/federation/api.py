"""Federation endpoints: the inbox other cities post to, and the operators' view of it.

The inbox needs no bearer token: every envelope is authenticated by its signature against the
league file. Everything else is for admins.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, Field

from yikatong.api.auth import Principal, require
from yikatong.api.deps import NodeDep, RowId, SessionDep
from yikatong.core.money import format_yuan, parse_yuan
from yikatong.federation import acceptance, catalogue, clearing, rpc, service
from yikatong.federation.dispatcher import lifespan
from yikatong.federation.models import DeadLetter, Rejection

# The router's lifespan starts the dispatcher inside ``ykt serve`` (FastAPI merges it into the
# app's lifespan when the router is included).
router = APIRouter(prefix="/api/v1/federation", tags=["federation"], lifespan=lifespan)

Admin = Annotated[Principal, require("admin")]
Acceptor = Annotated[Principal, require("terminal", "clerk", "admin")]
CityCode = Annotated[str, Path(pattern=r"^\d{6}$", description="Six-digit city code")]


class ReceiptOut(BaseModel):
    status: str = Field(description="applied, queued, dead-lettered or duplicate")
    message_id: str
    applied: int


@router.post("/inbox", response_model=ReceiptOut)
def inbox(
    node: NodeDep,
    request: Request,
    envelope: Annotated[dict[str, Any], Body(description="A signed envelope (wire form)")],
) -> ReceiptOut:
    """Receive a signed envelope from another city of the league (idempotent by message id)."""
    remote = request.client.host if request.client else None
    receipt = service.accept_envelope(node, envelope, remote_addr=remote)
    return ReceiptOut(status=receipt.status, message_id=receipt.message_id, applied=receipt.applied)


class PeerOut(BaseModel):
    city_code: str
    last_seen_at: dt.datetime
    key_id: str
    hello_at: dt.datetime | None
    name: str | None
    software_version: str | None


class StreamOut(BaseModel):
    sender: str
    stream: str
    next_seq: int
    blocked_by_seq: int | None
    waiting: int


class StatusOut(BaseModel):
    city_code: str
    league: str | None
    league_version: int | None
    outbox_pending: int
    outbox_failing: int
    open_dead_letters: int
    peers: list[PeerOut]
    inbound: list[StreamOut]


@router.get("/status", response_model=StatusOut)
def federation_status(node: NodeDep, session: SessionDep, _: Admin) -> StatusOut:
    """Outbox backlog, blocked streams, open dead letters and what each peer last said."""
    state = service.status(session)
    league = service.league_of(node) if node.settings.league_file else None
    return StatusOut(
        city_code=node.city_code,
        league=league.name if league else None,
        league_version=league.version if league else None,
        outbox_pending=state.outbox_pending,
        outbox_failing=state.outbox_failing,
        open_dead_letters=state.open_dead_letters,
        peers=[PeerOut.model_validate(p, from_attributes=True) for p in state.peers],
        inbound=[StreamOut.model_validate(s, from_attributes=True) for s in state.inbound],
    )


class DeadLetterOut(BaseModel):
    id: int
    sender: str
    stream: str
    seq: int
    message_id: str
    payload_type: str
    error: str
    failed_at: dt.datetime
    attempts: int
    status: str
    resolved_at: dt.datetime | None
    resolved_by: str | None
    resolution: str | None
    envelope: dict[str, Any] | None = None


def _letter_out(letter: DeadLetter, envelope: dict[str, Any] | None = None) -> DeadLetterOut:
    out = DeadLetterOut.model_validate(letter, from_attributes=True)
    return out.model_copy(update={"envelope": envelope})


@router.get("/dead-letters", response_model=list[DeadLetterOut])
def list_dead_letters(
    session: SessionDep, _: Admin, status: str | None = "open"
) -> list[DeadLetterOut]:
    """Messages whose handler failed (open ones block their stream)."""
    return [_letter_out(letter) for letter in service.dead_letters(session, status=status)]


@router.get("/dead-letters/{letter_id}", response_model=DeadLetterOut)
def show_dead_letter(letter_id: RowId, session: SessionDep, _: Admin) -> DeadLetterOut:
    letter = service.get_dead_letter(session, letter_id)
    return _letter_out(letter, service.dead_letter_envelope(session, letter))


@router.post("/dead-letters/{letter_id}/replay", response_model=DeadLetterOut)
def replay_dead_letter(letter_id: RowId, session: SessionDep, admin: Admin) -> DeadLetterOut:
    """Run the handler again; the letter is ``replayed`` on success, still ``open`` if not."""
    return _letter_out(service.replay_dead_letter(session, letter_id, actor=admin.subject))


class DiscardIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


@router.post("/dead-letters/{letter_id}/discard", response_model=DeadLetterOut)
def discard_dead_letter(
    letter_id: RowId, data: DiscardIn, session: SessionDep, admin: Admin
) -> DeadLetterOut:
    """Give up on the message (kept as evidence) and let its stream continue."""
    letter = service.discard_dead_letter(
        session, letter_id, actor=admin.subject, reason=data.reason
    )
    return _letter_out(letter)


class RejectionOut(BaseModel):
    id: int
    at: dt.datetime
    reason: str
    sender: str | None
    message_id: str | None
    key_id: str | None
    remote_addr: str | None
    detail: str


@router.get("/rejections", response_model=list[RejectionOut])
def list_rejections(
    session: SessionDep,
    _: Admin,
    reason: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RejectionOut]:
    """Envelopes the inbox refused, newest first."""
    rows: list[Rejection] = service.rejections(session, reason=reason, limit=limit)
    return [RejectionOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("/rpc")
def answer_request(
    node: NodeDep,
    request: Request,
    envelope: Annotated[dict[str, Any], Body(description="A signed request envelope")],
) -> dict[str, Any]:
    """Answer a signed request of another city at once with a signed envelope (authorisation,
    deny-list fetch). The same request again gets the same answer."""
    remote = request.client.host if request.client else None
    return rpc.answer(node, envelope, remote_addr=remote)


class AcceptanceIn(BaseModel):
    issuer_city: str = Field(pattern=r"^\d{6}$", description="City that issued the card")
    instrument: Literal["card", "essc"]
    card_ref: str | None = Field(default=None, min_length=1, max_length=32)
    qr: str | None = Field(default=None, min_length=8, max_length=512)
    amount: str = Field(description="Yuan with at most two decimals, e.g. 2.00")
    scenario: str | None = Field(default=None, min_length=1, max_length=64)


class DecisionOut(BaseModel):
    id: int
    decision: str = Field(description="approved or declined")
    mode: str = Field(description="online, stand-in or offline")
    reason: str
    issuer_city: str
    card_ref: str | None
    amount: str
    request_id: str | None
    terms: dict[str, Any] = Field(description="The accepting city's terms for the scenario")


def _decision_out(decision: acceptance.Decision) -> DecisionOut:
    return DecisionOut(
        id=decision.id,
        decision=decision.decision,
        mode=decision.mode,
        reason=decision.reason,
        issuer_city=decision.issuer_city,
        card_ref=decision.card_ref,
        amount=format_yuan(decision.amount),
        request_id=decision.request_id,
        terms=decision.terms,
    )


@router.post("/authorisations", response_model=DecisionOut)
def authorise(data: AcceptanceIn, node: NodeDep, _: Acceptor) -> DecisionOut:
    """Authorise a card or e-SSC code of another city: asked of that city online, or decided by
    the stand-in rule when it does not answer in time."""
    decision = acceptance.authorise(
        node,
        issuer_city=data.issuer_city,
        instrument=data.instrument,
        amount=parse_yuan(data.amount, field="amount"),
        card_ref=data.card_ref,
        qr=data.qr,
        scenario=data.scenario,
    )
    return _decision_out(decision)


@router.post("/offline-acceptances", response_model=DecisionOut)
def accept_offline(data: AcceptanceIn, node: NodeDep, _: Acceptor) -> DecisionOut:
    """Accept a card of another city without asking it: from its deny list as last fetched."""
    decision = acceptance.accept_offline(
        node,
        issuer_city=data.issuer_city,
        instrument=data.instrument,
        amount=parse_yuan(data.amount, field="amount"),
        card_ref=data.card_ref,
        qr=data.qr,
        scenario=data.scenario,
    )
    return _decision_out(decision)


class DenyListSyncOut(BaseModel):
    city_code: str
    fetched: int
    last_seq: int


@router.post("/deny-lists/{city_code}/sync", response_model=DenyListSyncOut)
def sync_deny_list(city_code: CityCode, node: NodeDep, _: Admin) -> DenyListSyncOut:
    """Fetch another city's deny-list changes since the last fetch (signed request)."""
    result = acceptance.sync_deny_list(node, city_code)
    return DenyListSyncOut(
        city_code=result.city_code, fetched=result.fetched, last_seq=result.last_seq
    )


class CatalogueEntryOut(BaseModel):
    city_code: str
    scenario: str
    domain: str
    name: str
    accepts: list[str]
    terms: dict[str, Any]
    note: str | None
    version: int


@router.get("/catalogue/{city_code}", response_model=list[CatalogueEntryOut])
def city_catalogue(city_code: CityCode, session: SessionDep) -> list[CatalogueEntryOut]:
    """A city's published scenario catalogue (public): whose cards each scenario accepts."""
    return [
        CatalogueEntryOut.model_validate(row, from_attributes=True)
        for row in catalogue.catalogue_of(session, city_code)
    ]


class ScenarioVerdictOut(BaseModel):
    accepted: bool
    city_code: str
    scenario: str
    card_city: str
    reason: str
    terms: dict[str, Any]


@router.get("/catalogue/{city_code}/check", response_model=ScenarioVerdictOut)
def check_scenario(
    city_code: CityCode,
    session: SessionDep,
    scenario: Annotated[str, Query(min_length=3, max_length=64)],
    card_city: Annotated[str, Query(pattern=r"^\d{6}$")],
) -> ScenarioVerdictOut:
    """May a card of ``card_city`` be used for ``scenario`` in ``city_code``, on what terms?"""
    verdict = catalogue.check_scenario(
        session, city_code=city_code, scenario=scenario, card_city=card_city
    )
    return ScenarioVerdictOut(
        accepted=verdict.accepted,
        city_code=verdict.city_code,
        scenario=verdict.scenario,
        card_city=verdict.card_city,
        reason=verdict.reason,
        terms=verdict.terms,
    )


Overseer = Annotated[Principal, require("admin", "auditor")]


class ClearingRunIn(BaseModel):
    counterparty: str = Field(pattern=r"^\d{6}$", description="City to clear with")
    business_date: dt.date = Field(description="A past business day (China date)")


class ClearingRunOut(BaseModel):
    id: int
    counterparty: str
    business_date: dt.date
    acquired: str = Field(description="Yuan the counterparty's cards spent here")
    issued: str = Field(description="Yuan this city's cards spent there")
    net: str = Field(description="Yuan the counterparty owes this city (negative: owed to it)")
    lines: int
    message_id: str


def _run_out(run: Any) -> ClearingRunOut:
    return ClearingRunOut(
        id=run.id,
        counterparty=run.counterparty,
        business_date=run.business_date,
        acquired=format_yuan(run.acquired_fen),
        issued=format_yuan(run.issued_fen),
        net=format_yuan(run.net_fen),
        lines=run.lines,
        message_id=run.message_id,
    )


@router.post("/clearing/runs", response_model=ClearingRunOut)
def run_clearing(
    data: ClearingRunIn, node: NodeDep, session: SessionDep, _: Admin
) -> ClearingRunOut:
    """Net one business day with one city, post the settlement, send the signed statement."""
    run = clearing.run_clearing(
        session,
        own_city=node.city_code,
        counterparty=data.counterparty,
        business_date=data.business_date,
    )
    return _run_out(run)


@router.get("/clearing/runs", response_model=list[ClearingRunOut])
def list_clearing_runs(session: SessionDep, _: Overseer) -> list[ClearingRunOut]:
    return [_run_out(run) for run in clearing.clearing_runs(session)]


class ClearingReportOut(BaseModel):
    counterparty: str
    business_date: dt.date
    status: str = Field(description="balanced or mismatch")
    their_net_fen: int
    our_net_fen: int
    matched: int
    mismatches: list[dict[str, Any]]


@router.get("/clearing/reports", response_model=list[ClearingReportOut])
def list_clearing_reports(session: SessionDep, _: Overseer) -> list[ClearingReportOut]:
    """Statements received from other cities, compared line by line with this city's lines."""
    return [
        ClearingReportOut.model_validate(r, from_attributes=True)
        for r in clearing.clearing_reports(session)
    ]
