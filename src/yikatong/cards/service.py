"""The social security card (社会保障卡) lifecycle: apply, issue, activate, report lost, restore,
replace and cancel, with an event per transition and a deny list (黑名单) for terminals.

States and transitions are data (``TRANSITIONS``)::

    applied ──issue──▶ issued ──activate──▶ active ◀──restore── suspended (临时挂失)
                                              │ └──report-lost-temporary──▶ ┘
                                              └──report-lost-formal──▶ lost (正式挂失) ──replace──▶ replaced
    any live state ──cancel──▶ cancelled (death, or at the holder's request)

A replacement (补卡) is a NEW card with a new number and card_ref for the same resident, linked by
``replaces_card_id``. It starts ``issued``: service points make replacement cards over the counter
(即时制卡), so there is no separate application step, but the holder still activates it, which
confirms receipt. Entitlements belong to the resident, not the card, so they carry over.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.cards.models import (
    DENIED_STATES,
    LIVE_STATES,
    Card,
    CardCategory,
    CardCounter,
    CardEvent,
    CardState,
    DenyListEntry,
)
from yikatong.core import clock, db
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.core.ids import age_on, card_number, parse_card_number
from yikatong.registry import service as registry_service
from yikatong.registry.models import Resident

__all__ = [
    "CATEGORY_PRIORITY",
    "TRANSITIONS",
    "CardAction",
    "CardCategory",
    "CardHolding",
    "CardState",
    "DenyListEntry",
    "activate_card",
    "allocate_numbers",
    "allowed_actions",
    "apply_for_card",
    "cancel_card",
    "cancel_cards_of",
    "card_category",
    "card_count_by_state",
    "card_entitlements",
    "card_history",
    "current_card_of",
    "denied_refs",
    "deny_list_head",
    "deny_list_since",
    "entitlements_for",
    "get_card",
    "get_card_by_ref",
    "get_card_holding",
    "issue_card",
    "list_cards",
    "primary_category",
    "replace_card",
    "report_lost",
    "restore_card",
]


class CardAction(enum.StrEnum):
    ISSUE = "issue"  # 发卡: the card is made and handed out
    ACTIVATE = "activate"  # 启用: the holder confirms receipt
    REPORT_LOST_TEMPORARY = "report-lost-temporary"  # 临时挂失, by phone or app
    REPORT_LOST_FORMAL = "report-lost-formal"  # 正式挂失, at a service point
    RESTORE = "restore"  # 解挂: the card was found again
    REPLACE = "replace"  # 补卡
    CANCEL = "cancel"  # 注销


_S, _A = CardState, CardAction
TRANSITIONS: Mapping[CardState, Mapping[CardAction, CardState]] = MappingProxyType(
    {
        _S.APPLIED: MappingProxyType({_A.ISSUE: _S.ISSUED, _A.CANCEL: _S.CANCELLED}),
        _S.ISSUED: MappingProxyType({_A.ACTIVATE: _S.ACTIVE, _A.CANCEL: _S.CANCELLED}),
        _S.ACTIVE: MappingProxyType(
            {
                _A.REPORT_LOST_TEMPORARY: _S.SUSPENDED,
                _A.REPORT_LOST_FORMAL: _S.LOST,
                _A.CANCEL: _S.CANCELLED,
            }
        ),
        _S.SUSPENDED: MappingProxyType(
            {_A.RESTORE: _S.ACTIVE, _A.REPORT_LOST_FORMAL: _S.LOST, _A.CANCEL: _S.CANCELLED}
        ),
        _S.LOST: MappingProxyType({_A.REPLACE: _S.REPLACED, _A.CANCEL: _S.CANCELLED}),
        _S.REPLACED: MappingProxyType({}),
        _S.CANCELLED: MappingProxyType({}),
    }
)

# When several categories apply, the primary one is the first in this order. Disability and
# veteran status come before age because their concessions (free or reduced fares, priority
# services) are granted by national law irrespective of age and are at least as generous as the
# senior ones; 70+ comes before 60+ (canteen subsidy rule); student status only matters when
# nothing else applies.
CATEGORY_PRIORITY: tuple[CardCategory, ...] = (
    CardCategory.DISABLED,
    CardCategory.VETERAN,
    CardCategory.SENIOR_70,
    CardCategory.SENIOR_60,
    CardCategory.STUDENT,
    CardCategory.ORDINARY,
)

_CARD_SERIAL = "card_serial"
_DENY_LIST_SEQ = "deny_list"
MAX_LIST_LIMIT = 1000
MAX_DENY_LIST_LIMIT = 10_000


# --- pure rules ---------------------------------------------------------------------------------


def allowed_actions(state: CardState) -> list[CardAction]:
    """What may be done to a card in ``state``, in the table's order."""
    return list(TRANSITIONS[state])


def entitlements_for(
    birth_date: date, *, disabled: bool, veteran: bool, student: bool, on: date
) -> set[CardCategory]:
    """Every category a person qualifies for on a date; ``{ordinary}`` when none does."""
    found: set[CardCategory] = set()
    if disabled:
        found.add(CardCategory.DISABLED)
    if veteran:
        found.add(CardCategory.VETERAN)
    age = age_on(birth_date, on)
    if age >= 70:
        found.add(CardCategory.SENIOR_70)
    elif age >= 60:
        found.add(CardCategory.SENIOR_60)
    if student:
        found.add(CardCategory.STUDENT)
    return found or {CardCategory.ORDINARY}


def primary_category(categories: set[CardCategory]) -> CardCategory:
    """The one category printed on the card and read first by fare rules (see CATEGORY_PRIORITY)."""
    for category in CATEGORY_PRIORITY:
        if category in categories:
            return category
    return CardCategory.ORDINARY


# --- queries ------------------------------------------------------------------------------------


def get_card(session: Session, card_no: str) -> Card:
    """The card with this number; InvalidInput for a malformed number, NotFound if unknown."""
    number = parse_card_number(card_no)
    card = session.scalar(select(Card).where(Card.card_no == number))
    if card is None:
        raise NotFound(f"no card with number {number}; check the number printed on the card")
    return card


@dataclass(frozen=True, slots=True)
class CardHolding:
    """A card as a terminal needs it, with what its holder's category depends on (one row)."""

    card_no: str
    card_ref: str
    resident_id: int
    state: CardState
    # Birth date, disabled, veteran, student; None when the holder is not in the register.
    holder: tuple[date, bool, bool, bool] | None

    def category(self, on: date) -> CardCategory:
        """``card_category`` on ``on``; NotFound when the holder is not in the register."""
        if self.holder is None:
            raise NotFound(f"no resident with id {self.resident_id}; search by name or ID number")
        birth, disabled, veteran, student = self.holder
        return primary_category(
            entitlements_for(birth, disabled=disabled, veteran=veteran, student=student, on=on)
        )


_CARDS = cast(Table, Card.__table__)
_RESIDENTS = cast(Table, Resident.__table__)
# Built once: online authorisation reads one card per request.
_CARD_HOLDINGS = select(
    _CARDS.c.card_no,
    _CARDS.c.card_ref,
    _CARDS.c.resident_id,
    _CARDS.c.state,
    _RESIDENTS.c.id,
    _RESIDENTS.c.birth_date,
    _RESIDENTS.c.disabled,
    _RESIDENTS.c.veteran,
    _RESIDENTS.c.student,
).select_from(_CARDS.outerjoin(_RESIDENTS, _RESIDENTS.c.id == _CARDS.c.resident_id))
_CARD_HOLDING = _CARD_HOLDINGS.where(_CARDS.c.card_no == bindparam("card_no"))


def get_card_holding(session: Session, card_no: str) -> CardHolding:
    """``get_card`` and its holder's category facts in one query (same errors as ``get_card``)."""
    number = parse_card_number(card_no)
    row = session.execute(_CARD_HOLDING, {"card_no": number}).first()
    if row is None:
        raise NotFound(f"no card with number {number}; check the number printed on the card")
    return _holding(row)


def _holding(row: Any) -> CardHolding:
    holder = None if row[4] is None else (row[5], bool(row[6]), bool(row[7]), bool(row[8]))
    return CardHolding(row[0], row[1], int(row[2]), CardState(row[3]), holder)


def get_card_holdings(session: Session, card_nos: Iterable[str]) -> dict[str, CardHolding]:
    """``get_card_holding`` of many cards, by number, in one query (offline uploads);
    malformed and unknown numbers are left out."""
    numbers: list[str] = []
    for card_no in dict.fromkeys(card_nos):
        try:
            numbers.append(parse_card_number(card_no))
        except InvalidInput:
            continue
    found: dict[str, CardHolding] = {}
    for condition in db.one_of(session, _CARDS.c.card_no, numbers):
        for row in session.execute(_CARD_HOLDINGS.where(condition)):
            found[row[0]] = _holding(row)
    return found


def deny_list_of(session: Session, card_refs: Iterable[str]) -> list[DenyListEntry]:
    """Every deny-list change of these cards, in sequence order."""
    refs = sorted(set(card_refs))
    entries: list[DenyListEntry] = []
    for start in range(0, len(refs), 900):
        entries.extend(
            session.scalars(
                select(DenyListEntry).where(DenyListEntry.card_ref.in_(refs[start : start + 900]))
            )
        )
    return sorted(entries, key=lambda entry: entry.seq)


def get_card_by_ref(session: Session, card_ref: str) -> Card:
    card = session.scalar(select(Card).where(Card.card_ref == card_ref))
    if card is None:
        raise NotFound(f"no card with reference {card_ref}")
    return card


def current_card_of(session: Session, resident_id: int) -> Card | None:
    """The resident's live card (not replaced or cancelled), if any."""
    return session.scalar(
        select(Card).where(Card.resident_id == resident_id, Card.state.in_(LIVE_STATES))
    )


def list_cards(
    session: Session,
    *,
    state: CardState | None = None,
    resident_id: int | None = None,
    limit: int = 50,
) -> list[Card]:
    """Cards in number order, optionally of one state and/or one resident."""
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}", field="limit")
    query = select(Card).order_by(Card.id).limit(limit)
    if state is not None:
        query = query.where(Card.state == state)
    if resident_id is not None:
        query = query.where(Card.resident_id == resident_id)
    return list(session.scalars(query))


def card_history(session: Session, card: Card) -> list[CardEvent]:
    """Every transition of the card, oldest first."""
    return list(
        session.scalars(
            select(CardEvent).where(CardEvent.card_id == card.id).order_by(CardEvent.id)
        )
    )


def card_entitlements(session: Session, card: Card, on: date | None = None) -> set[CardCategory]:
    """Every category the holder qualifies for (registry attributes and age on ``on``/today)."""
    resident = registry_service.get_resident(session, card.resident_id)
    return entitlements_for(
        resident.birth_date,
        disabled=resident.disabled,
        veteran=resident.veteran,
        student=resident.student,
        on=on or clock.today(),
    )


def card_category(session: Session, card: Card, on: date | None = None) -> CardCategory:
    """The primary card category (卡类别) on ``on`` (default today)."""
    return primary_category(card_entitlements(session, card, on))


# --- deny list ----------------------------------------------------------------------------------


def deny_list_since(session: Session, since_seq: int, limit: int = 1000) -> list[DenyListEntry]:
    """Deny-list changes after ``since_seq`` in sequence order (delta download for terminals)."""
    if since_seq < 0:
        raise InvalidInput("since must be 0 or a sequence number already received", field="since")
    if not 1 <= limit <= MAX_DENY_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_DENY_LIST_LIMIT}", field="limit")
    return list(
        session.scalars(
            select(DenyListEntry)
            .where(DenyListEntry.seq > since_seq)
            .order_by(DenyListEntry.seq)
            .limit(limit)
        )
    )


def deny_list_head(session: Session) -> int:
    """The last sequence number written (0 when the list is empty).

    For a full download read this first, then ``denied_refs``: deltas from the head re-apply
    anything that changed in between, and applying an entry twice is harmless.
    """
    value = session.scalar(select(CardCounter.value).where(CardCounter.name == _DENY_LIST_SEQ))
    return int(value or 0)


def denied_refs(session: Session) -> set[str]:
    """card_refs that terminals must refuse now (suspended, lost, replaced or cancelled cards)."""
    return set(session.scalars(select(Card.card_ref).where(Card.state.in_(DENIED_STATES))))


# --- commands -----------------------------------------------------------------------------------


def apply_for_card(
    session: Session, resident_id: int, *, actor: str, reason: str = "first application"
) -> Card:
    """Apply for a card (申领社保卡): one live card per living resident."""
    actor, reason = _check_actor(actor), _check_reason(reason)
    resident = registry_service.get_resident(session, resident_id)
    _refuse_if_deceased(resident.status, resident.died_on, resident_id)
    live = current_card_of(session, resident_id)
    if live is not None:
        raise Conflict(
            f"resident {resident_id} already holds card {live.card_no} ({live.state.value}); "
            "replace or cancel that card instead of applying again",
            card_no=live.card_no,
            current_state=live.state.value,
        )
    return _new_card(session, resident_id, CardState.APPLIED, actor=actor, reason=reason)


def issue_card(session: Session, card_no: str, *, actor: str, reason: str) -> Card:
    """The card was made and handed to the holder (发卡)."""
    return _transition(session, card_no, CardAction.ISSUE, actor=actor, reason=reason)


def activate_card(session: Session, card_no: str, *, actor: str, reason: str) -> Card:
    """The holder confirmed receipt; the card works from now on (启用)."""
    return _transition(session, card_no, CardAction.ACTIVATE, actor=actor, reason=reason)


def restore_card(session: Session, card_no: str, *, actor: str, reason: str) -> Card:
    """Lift a temporary loss report (解挂): the card works again and leaves the deny list."""
    return _transition(session, card_no, CardAction.RESTORE, actor=actor, reason=reason)


def report_lost(
    session: Session, card_no: str, *, actor: str, reason: str, temporary: bool = True
) -> Card:
    """Report a card lost: temporary (临时挂失, → suspended) or formal (正式挂失, → lost)."""
    action = CardAction.REPORT_LOST_TEMPORARY if temporary else CardAction.REPORT_LOST_FORMAL
    return _transition(session, card_no, action, actor=actor, reason=reason)


def cancel_card(session: Session, card_no: str, *, actor: str, reason: str) -> Card:
    """Cancel a card for good (注销), on death or at the holder's request."""
    return _transition(session, card_no, CardAction.CANCEL, actor=actor, reason=reason)


def replace_card(session: Session, card_no: str, *, actor: str, reason: str) -> Card:
    """Replace a formally lost card (补卡); returns the NEW card, which starts ``issued``."""
    actor, reason = _check_actor(actor), _check_reason(reason)
    old = _card_for_update(session, card_no)
    _check_allowed(old, CardAction.REPLACE)
    resident = registry_service.get_resident(session, old.resident_id)
    _refuse_if_deceased(resident.status, resident.died_on, old.resident_id)
    _apply(session, old, CardAction.REPLACE, actor=actor, reason=reason)
    # The old card must leave the live states before the new one enters (one live card each).
    session.flush()
    new = _new_card(
        session,
        old.resident_id,
        CardState.ISSUED,
        actor=actor,
        reason=f"replacement for card {old.card_no}: {reason}"[:200],
        replaces=old,
    )
    return new


def cancel_cards_of(session: Session, resident_id: int, *, actor: str, reason: str) -> list[Card]:
    """Cancel every live card of a resident (the death flow, 身故注销); returns the cards."""
    actor, reason = _check_actor(actor), _check_reason(reason)
    cards = list(
        session.scalars(
            select(Card)
            .where(Card.resident_id == resident_id, Card.state.in_(LIVE_STATES))
            .order_by(Card.id)
            .with_for_update()
        )
    )
    for card in cards:
        _apply(session, card, CardAction.CANCEL, actor=actor, reason=reason)
    session.flush()
    return cards


# --- internals ----------------------------------------------------------------------------------


def _transition(
    session: Session, card_no: str, action: CardAction, *, actor: str, reason: str
) -> Card:
    actor, reason = _check_actor(actor), _check_reason(reason)
    card = _card_for_update(session, card_no)
    _check_allowed(card, action)
    _apply(session, card, action, actor=actor, reason=reason)
    session.flush()
    return card


def _card_for_update(session: Session, card_no: str) -> Card:
    number = parse_card_number(card_no)
    card = session.scalar(select(Card).where(Card.card_no == number).with_for_update())
    if card is None:
        raise NotFound(f"no card with number {number}; check the number printed on the card")
    return card


def _check_allowed(card: Card, action: CardAction) -> None:
    allowed = allowed_actions(card.state)
    if action in allowed:
        return
    if allowed:
        what = "allowed from there: " + ", ".join(a.value for a in allowed)
    else:
        what = "the card is closed; apply for a new card if the holder needs one"
    raise Conflict(
        f"card {card.card_no} is {card.state.value}, so it cannot {action.value}; {what}",
        card_no=card.card_no,
        current_state=card.state.value,
        allowed=[a.value for a in allowed],
    )


def _apply(session: Session, card: Card, action: CardAction, *, actor: str, reason: str) -> None:
    """Move the card along one row of the table, with its event and deny-list entry."""
    before = card.state
    after = TRANSITIONS[before][action]
    at = clock.now()
    card.state = after
    card.state_changed_at = at
    if after is CardState.ISSUED:
        card.issued_at = at
    if after is CardState.ACTIVE and card.activated_at is None:
        card.activated_at = at
    session.add(
        CardEvent(
            card_id=card.id,
            from_state=before.value,
            to_state=after.value,
            actor=actor,
            reason=reason,
            at=at,
        )
    )
    if after in DENIED_STATES:
        _deny_list_write(session, card.card_ref, "add", f"{after.value}: {reason}")
    elif before in DENIED_STATES:
        _deny_list_write(session, card.card_ref, "remove", f"{after.value}: {reason}")


def _new_card(
    session: Session,
    resident_id: int,
    state: CardState,
    *,
    actor: str,
    reason: str,
    replaces: Card | None = None,
) -> Card:
    at = clock.now()
    card = Card(
        card_no=card_number(allocate_numbers(session, _CARD_SERIAL)),
        card_ref=secrets.token_hex(8),
        resident_id=resident_id,
        city_code=current_node.current().city_code,
        state=state,
        replaces_card_id=replaces.id if replaces is not None else None,
        applied_at=at,
        issued_at=at if state is CardState.ISSUED else None,
        state_changed_at=at,
    )
    session.add(card)
    session.flush()
    session.add(
        CardEvent(
            card_id=card.id,
            from_state=None,
            to_state=state.value,
            actor=actor,
            reason=reason,
            at=at,
        )
    )
    session.flush()
    return card


def _deny_list_write(session: Session, card_ref: str, action: str, reason: str) -> None:
    session.add(
        DenyListEntry(
            seq=allocate_numbers(session, _DENY_LIST_SEQ),
            card_ref=card_ref,
            action=action,
            reason=reason[:200],
            at=clock.now(),
        )
    )


def allocate_numbers(session: Session, name: str, count: int = 1) -> int:
    """Take ``count`` numbers from a named counter; returns the LAST one (the block ends there).

    The counter row stays locked until the transaction ends, so numbers are handed out in commit
    order and a rollback returns them: no gaps, no reordering (what deny-list readers rely on).
    """
    if count < 1:
        raise ValueError("count must be positive")
    bump = (
        update(CardCounter)
        .where(CardCounter.name == name)
        .values(value=CardCounter.value + count)
        .returning(CardCounter.value)
    )
    value = session.execute(bump).scalar_one_or_none()
    if value is not None:
        return int(value)
    # First use of this counter: create it; a concurrent creator wins, then we bump its row.
    try:
        with session.begin_nested():
            session.add(CardCounter(name=name, value=count))
        return count
    except IntegrityError:
        return int(session.execute(bump).scalar_one())


def _refuse_if_deceased(status: object, died_on: date | None, resident_id: int) -> None:
    if died_on is not None or str(status) == "deceased":
        when = f" on {died_on.isoformat()}" if died_on else ""
        raise Conflict(
            f"resident {resident_id} died{when}; no card can be issued to a deceased resident"
        )


def _check_actor(actor: str) -> str:
    cleaned = actor.strip()
    if not cleaned or len(cleaned) > 64:
        raise InvalidInput("actor must be 1 to 64 characters (who did this)", field="actor")
    return cleaned


def _check_reason(reason: str) -> str:
    cleaned = reason.strip()
    if not cleaned:
        raise InvalidInput("a reason is required for every card transition", field="reason")
    if len(cleaned) > 200:
        raise InvalidInput("reason must be at most 200 characters", field="reason")
    return cleaned


def card_count_by_state(session: Session) -> dict[CardState, int]:
    """How many cards are in each state (dashboards, the demo summary)."""
    rows = session.execute(select(Card.state, func.count()).group_by(Card.state))
    counts = {state: 0 for state in CardState}
    for state, count in rows:
        counts[state] = int(count)
    return counts
