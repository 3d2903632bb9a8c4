"""Shared steps of the card tests: residents made directly in the registry table, and drivers
that move a card along the transition table through the public service functions."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets

from sqlalchemy.orm import Session

from yikatong.cards import service
from yikatong.cards.models import Card, CardState
from yikatong.cards.service import CardAction
from yikatong.core import clock
from yikatong.registry.models import Resident, ResidentStatus

_order = itertools.count(1)

# The shortest way from a fresh application to each state.
PATH_TO: dict[CardState, tuple[CardAction, ...]] = {
    CardState.APPLIED: (),
    CardState.ISSUED: (CardAction.ISSUE,),
    CardState.ACTIVE: (CardAction.ISSUE, CardAction.ACTIVATE),
    CardState.SUSPENDED: (CardAction.ISSUE, CardAction.ACTIVATE, CardAction.REPORT_LOST_TEMPORARY),
    CardState.LOST: (CardAction.ISSUE, CardAction.ACTIVATE, CardAction.REPORT_LOST_FORMAL),
    CardState.REPLACED: (
        CardAction.ISSUE,
        CardAction.ACTIVATE,
        CardAction.REPORT_LOST_FORMAL,
        CardAction.REPLACE,
    ),
    CardState.CANCELLED: (CardAction.CANCEL,),
}


def make_resident(
    session: Session,
    *,
    birth_date: dt.date = dt.date(1985, 6, 1),
    disabled: bool = False,
    veteran: bool = False,
    student: bool = False,
    died_on: dt.date | None = None,
) -> Resident:
    """A registry row made directly (encrypted columns may hold any bytes here)."""
    n = next(_order)
    resident = Resident(
        person_ref=secrets.token_hex(8),
        id_hash=secrets.token_hex(32),
        id_enc=b"test",
        id_masked="370202********" + f"{n:04d}"[-4:],
        name=f"测试{n}",
        sex="M",
        birth_date=birth_date,
        district_code="370202",
        status=ResidentStatus.DECEASED if died_on else ResidentStatus.ACTIVE,
        died_on=died_on,
        disabled=disabled,
        veteran=veteran,
        student=student,
        low_income=False,
        created_at=clock.now(),
    )
    session.add(resident)
    session.flush()
    return resident


def do(session: Session, card_no: str, action: CardAction, *, actor: str = "clerk-li") -> Card:
    """Perform one action through the service; for REPLACE this answers the NEW card."""
    reason = f"test: {action.value}"
    match action:
        case CardAction.ISSUE:
            return service.issue_card(session, card_no, actor=actor, reason=reason)
        case CardAction.ACTIVATE:
            return service.activate_card(session, card_no, actor=actor, reason=reason)
        case CardAction.REPORT_LOST_TEMPORARY:
            return service.report_lost(session, card_no, actor=actor, reason=reason)
        case CardAction.REPORT_LOST_FORMAL:
            return service.report_lost(
                session, card_no, actor=actor, reason=reason, temporary=False
            )
        case CardAction.RESTORE:
            return service.restore_card(session, card_no, actor=actor, reason=reason)
        case CardAction.REPLACE:
            return service.replace_card(session, card_no, actor=actor, reason=reason)
        case CardAction.CANCEL:
            return service.cancel_card(session, card_no, actor=actor, reason=reason)
    raise AssertionError(action)


def card_in(session: Session, state: CardState, resident: Resident | None = None) -> Card:
    """A card of a fresh resident (or the given one), driven into ``state``."""
    holder = resident or make_resident(session)
    card = service.apply_for_card(session, holder.id, actor="clerk-li")
    for action in PATH_TO[state]:
        result = do(session, card.card_no, action)
        if action is not CardAction.REPLACE:
            card = result
    session.refresh(card)
    assert card.state is state
    return card
