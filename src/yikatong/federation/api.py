"""Federation endpoints: the inbox other cities post to, and the operators' view of it.

The inbox needs no bearer token: every envelope is authenticated by its signature against the
league file. Everything else is for admins.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field

from yikatong.api.auth import Principal, require
from yikatong.api.deps import NodeDep, RowId, SessionDep
from yikatong.federation import service
from yikatong.federation.dispatcher import lifespan
from yikatong.federation.models import DeadLetter, Rejection

# The router's lifespan starts the dispatcher inside ``ykt serve`` (FastAPI merges it into the
# app's lifespan when the router is included).
router = APIRouter(prefix="/api/v1/federation", tags=["federation"], lifespan=lifespan)

Admin = Annotated[Principal, require("admin")]


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
