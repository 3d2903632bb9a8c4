"""HTTP API of the card lifecycle and the terminals' deny list."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from yikatong.api.auth import Principal, current_principal, require
from yikatong.api.deps import SessionDep
from yikatong.cards import service
from yikatong.cards.models import Card, CardCategory, CardEvent, CardState
from yikatong.core.errors import Forbidden

router = APIRouter(prefix="/api/v1", tags=["cards"])

StaffOrResident = Annotated[Principal, Depends(current_principal)]
STAFF = ("clerk", "auditor", "admin")
MAX_ID = 2**31 - 1  # integer primary keys
MAX_SEQ = 2**63 - 1


class ApplyIn(BaseModel):
    resident_id: int = Field(gt=0, le=MAX_ID)
    reason: str = Field("first application", min_length=1, max_length=200)


class TransitionIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200, description="Why; kept in the card history")
    temporary: bool = Field(
        True, description="report-lost only: true = 临时挂失 (suspend), false = 正式挂失 (lost)"
    )


class CardEventOut(BaseModel):
    from_state: str | None
    to_state: str
    actor: str
    reason: str
    at: dt.datetime


class CardOut(BaseModel):
    card_no: str
    card_ref: str
    resident_id: int
    city_code: str
    state: CardState
    replaces_card_id: int | None
    applied_at: dt.datetime
    issued_at: dt.datetime | None
    activated_at: dt.datetime | None
    state_changed_at: dt.datetime
    allowed: list[str]


class CardDetailOut(CardOut):
    category: CardCategory
    entitlements: list[CardCategory]
    events: list[CardEventOut]


class CardListOut(BaseModel):
    cards: list[CardOut]


class DenyListEntryOut(BaseModel):
    seq: int
    card_ref: str
    action: Literal["add", "remove"]
    reason: str
    at: dt.datetime


class DenyListOut(BaseModel):
    entries: list[DenyListEntryOut]
    next_since: int = Field(description="Pass as `since` on the next call")


class DenyListFullOut(BaseModel):
    card_refs: list[str]
    next_since: int = Field(description="Continue with deltas from here")


def _out(card: Card) -> CardOut:
    return CardOut(
        card_no=card.card_no,
        card_ref=card.card_ref,
        resident_id=card.resident_id,
        city_code=card.city_code,
        state=card.state,
        replaces_card_id=card.replaces_card_id,
        applied_at=card.applied_at,
        issued_at=card.issued_at,
        activated_at=card.activated_at,
        state_changed_at=card.state_changed_at,
        allowed=[a.value for a in service.allowed_actions(card.state)],
    )


def _event_out(event: CardEvent) -> CardEventOut:
    return CardEventOut(
        from_state=event.from_state,
        to_state=event.to_state,
        actor=event.actor,
        reason=event.reason,
        at=event.at,
    )


def _detail(session: Session, card: Card) -> CardDetailOut:
    entitlements = service.card_entitlements(session, card)
    return CardDetailOut(
        **_out(card).model_dump(),
        category=service.primary_category(entitlements),
        entitlements=sorted(entitlements),
        events=[_event_out(e) for e in service.card_history(session, card)],
    )


def _visible_card(session: Session, principal: Principal, card_no: str) -> Card:
    card = service.get_card(session, card_no)
    if not principal.has(*STAFF) and not _owns(principal, card):
        raise Forbidden(f"card {card.card_no} is not yours; you may only see your own cards")
    return card


def _owns(principal: Principal, card: Card) -> bool:
    return (
        principal.has("resident")
        and principal.resident_id is not None
        and principal.resident_id == card.resident_id
    )


@router.post("/cards", response_model=CardDetailOut, status_code=201)
def apply(
    body: ApplyIn, session: SessionDep, principal: Principal = require("clerk", "admin")
) -> CardDetailOut:
    """Apply for a card for a resident (申领); one live card per living resident."""
    card = service.apply_for_card(
        session, body.resident_id, actor=principal.subject, reason=body.reason
    )
    return _detail(session, card)


@router.get("/cards", response_model=CardListOut)
def list_cards(
    session: SessionDep,
    principal: StaffOrResident,
    state: CardState | None = None,
    resident_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 50,
) -> CardListOut:
    """Cards by state and/or resident; a resident sees only their own cards."""
    if not principal.has(*STAFF):
        if not principal.has("resident") or principal.resident_id is None:
            raise Forbidden("listing cards needs a staff role or a resident sign-in")
        if resident_id is not None and resident_id != principal.resident_id:
            raise Forbidden("you may only list your own cards; leave resident_id out")
        resident_id = principal.resident_id
    cards = service.list_cards(session, state=state, resident_id=resident_id, limit=limit)
    return CardListOut(cards=[_out(c) for c in cards])


@router.get("/cards/{card_no}", response_model=CardDetailOut)
def show(card_no: str, session: SessionDep, principal: StaffOrResident) -> CardDetailOut:
    """A card with its category, entitlements and full history."""
    return _detail(session, _visible_card(session, principal, card_no))


@router.post("/cards/{card_no}/report-lost", response_model=CardDetailOut)
def report_lost(
    card_no: str, body: TransitionIn, session: SessionDep, principal: StaffOrResident
) -> CardDetailOut:
    """临时挂失 (temporary, the holder may do it) or 正式挂失 (formal, at a service point)."""
    card = service.get_card(session, card_no)
    if not principal.has("clerk", "admin"):
        if not _owns(principal, card):
            raise Forbidden(f"card {card.card_no} is not yours; you may only report your own card")
        if not body.temporary:
            raise Forbidden(
                "a formal loss report (正式挂失) is made at a service point; "
                "report it temporarily here (temporary: true)"
            )
    card = service.report_lost(
        session, card.card_no, actor=principal.subject, reason=body.reason, temporary=body.temporary
    )
    return _detail(session, card)


def _clerk_transition(name: str, doc: str) -> None:
    do = {
        "issue": service.issue_card,
        "activate": service.activate_card,
        "restore": service.restore_card,
        "replace": service.replace_card,
        "cancel": service.cancel_card,
    }[name]

    def endpoint(
        card_no: str,
        body: TransitionIn,
        session: SessionDep,
        principal: Principal = require("clerk", "admin"),
    ) -> CardDetailOut:
        card = do(session, card_no, actor=principal.subject, reason=body.reason)
        return _detail(session, card)

    endpoint.__doc__ = doc
    endpoint.__name__ = name.replace("-", "_")
    router.add_api_route(
        f"/cards/{{card_no}}/{name}",
        endpoint,
        methods=["POST"],
        response_model=CardDetailOut,
        name=f"card_{endpoint.__name__}",
    )


_clerk_transition("issue", "The card was made and handed out (发卡).")
_clerk_transition("activate", "The holder confirmed receipt (启用).")
_clerk_transition("restore", "Lift a temporary loss report (解挂).")
_clerk_transition("replace", "Replace a formally lost card (补卡); answers the NEW card.")
_clerk_transition("cancel", "Cancel the card for good (注销).")


@router.get("/denylist", response_model=DenyListOut)
def deny_list(
    session: SessionDep,
    _principal: Principal = require("terminal", "clerk", "admin"),
    since: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="Last seq already applied; 0 at first")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_DENY_LIST_LIMIT)] = 1000,
) -> DenyListOut:
    """Deny-list changes after ``since``, in order; apply them and ask again from next_since."""
    entries = service.deny_list_since(session, since, limit)
    return DenyListOut(
        entries=[
            DenyListEntryOut(
                seq=e.seq,
                card_ref=e.card_ref,
                action="add" if e.action == "add" else "remove",
                reason=e.reason,
                at=e.at,
            )
            for e in entries
        ],
        next_since=entries[-1].seq if entries else since,
    )


@router.get("/denylist/full", response_model=DenyListFullOut)
def deny_list_full(
    session: SessionDep, _principal: Principal = require("terminal", "clerk", "admin")
) -> DenyListFullOut:
    """Every card_ref to refuse now, for a terminal starting from scratch."""
    head = service.deny_list_head(session)
    return DenyListFullOut(card_refs=sorted(service.denied_refs(session)), next_since=head)
