"""Cards for a demo city: a realistic mix of states, written in bulk.

Each card's history is produced by walking ``service.TRANSITIONS``, so the events, dates and
deny-list entries are exactly what the one-by-one commands would have written.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.cards import service
from yikatong.cards.models import (
    DENIED_STATES,
    Card,
    CardEvent,
    CardState,
    DenyListEntry,
)
from yikatong.cards.service import CardAction
from yikatong.core import clock
from yikatong.core.ids import card_number
from yikatong.registry import service as registry_service

_A = CardAction
_ACTIVE_PATH = (_A.ISSUE, _A.ACTIVATE)
# Share of living residents in each outcome; the rest hold an active card.
_MIX: tuple[tuple[float, str], ...] = (
    (0.04, "applied"),
    (0.04, "issued"),
    (0.03, "suspended"),
    (0.03, "replaced"),  # formally lost and replaced; the new card is active
    (0.01, "lost"),  # formally lost, replacement not yet collected
    (0.01, "cancelled"),  # cancelled at the holder's request (moved away)
)
_PATHS: dict[str, tuple[CardAction, ...]] = {
    "applied": (),
    "issued": (_A.ISSUE,),
    "active": _ACTIVE_PATH,
    "suspended": (*_ACTIVE_PATH, _A.REPORT_LOST_TEMPORARY),
    "lost": (*_ACTIVE_PATH, _A.REPORT_LOST_FORMAL),
    "replaced": (*_ACTIVE_PATH, _A.REPORT_LOST_FORMAL, _A.REPLACE),
    "cancelled": (*_ACTIVE_PATH, _A.CANCEL),
}
_REASONS = {
    _A.ISSUE: "issued at service point",
    _A.ACTIVATE: "holder confirmed receipt",
    _A.REPORT_LOST_TEMPORARY: "reported lost by phone",
    _A.REPORT_LOST_FORMAL: "reported lost at service point",
    _A.REPLACE: "replacement requested",
    _A.CANCEL: "cancelled at the holder's request",
}


@dataclass
class _PlannedCard:
    resident_id: int
    steps: list[tuple[CardAction | None, CardState, dt.datetime, str]] = field(default_factory=list)
    replaces_index: int | None = None


def give_cards_in_all_states(
    session: Session, resident_ids: Sequence[int], *, seed: int
) -> dict[CardState, int]:
    """Give each resident who never had a card a card history; returns cards made per state.

    Mostly active cards, some applied or issued, a few suspended, lost, lost-and-replaced (two
    cards) and cancelled; deceased residents get a card cancelled on their death. The same seed
    gives the same mix (card_refs stay random: they must never be guessable).
    """
    rng = random.Random(seed)
    actor = "demo"
    now = clock.now()
    have_card = _residents_with_a_card(session, resident_ids)
    plans: list[_PlannedCard] = []
    for resident_id in resident_ids:
        if resident_id in have_card:
            continue
        resident = registry_service.get_resident(session, resident_id)
        deceased = resident.died_on is not None or str(resident.status) == "deceased"
        outcome = "cancelled" if deceased else _pick(rng)
        start = now - dt.timedelta(days=rng.randint(200, 2000), minutes=rng.randint(0, 1440))
        death_at = _death_instant(resident.died_on, now) if deceased else None
        if death_at is not None:
            # The card was made while the holder lived; its path spans at most ~3 months.
            start = min(start, death_at - dt.timedelta(days=100))
        old = _plan(resident_id, _PATHS[outcome], start, rng)
        if death_at is not None:
            old.steps[-1] = (_A.CANCEL, CardState.CANCELLED, death_at, "holder died")
        plans.append(old)
        if outcome == "replaced":
            new = _PlannedCard(resident_id, replaces_index=len(plans) - 1)
            at = old.steps[-1][2]
            new.steps.append((None, CardState.ISSUED, at, "replacement of a lost card"))
            new.steps.append((_A.ACTIVATE, CardState.ACTIVE, at + _gap(rng), _REASONS[_A.ACTIVATE]))
            plans.append(new)
    if not plans:
        return {state: 0 for state in CardState}

    last_serial = service.allocate_numbers(session, "card_serial", len(plans))
    first_serial = last_serial - len(plans) + 1
    city = current_node.current().city_code
    rows = [_card_row(plan, card_number(first_serial + i), city) for i, plan in enumerate(plans)]
    ids: list[int | None] = [None] * len(plans)
    # Cards that replace another go second: they need the old card's id.
    for replacing in (False, True):
        batch = [
            i for i, plan in enumerate(plans) if (plan.replaces_index is not None) == replacing
        ]
        for i in batch:
            index = plans[i].replaces_index
            if index is not None:
                rows[i]["replaces_card_id"] = ids[index]
        if batch:
            inserted = session.scalars(
                insert(Card).returning(Card.id, sort_by_parameter_order=True),
                [rows[i] for i in batch],
            ).all()
            for i, card_id in zip(batch, inserted, strict=True):
                ids[i] = card_id

    events: list[dict[str, Any]] = []
    denials: list[tuple[dt.datetime, int, str, str, str]] = []
    for i, plan in enumerate(plans):
        previous: CardState | None = None
        for _action, state, at, reason in plan.steps:
            events.append(
                {
                    "card_id": ids[i],
                    "from_state": previous.value if previous else None,
                    "to_state": state.value,
                    "actor": actor,
                    "reason": reason,
                    "at": at,
                }
            )
            if state in DENIED_STATES:
                denials.append((at, i, rows[i]["card_ref"], "add", f"{state.value}: {reason}"))
            elif previous in DENIED_STATES:
                denials.append((at, i, rows[i]["card_ref"], "remove", f"{state.value}: {reason}"))
            previous = state
    session.execute(insert(CardEvent), events)
    if denials:
        denials.sort()
        last_seq = service.allocate_numbers(session, "deny_list", len(denials))
        first_seq = last_seq - len(denials) + 1
        session.execute(
            insert(DenyListEntry),
            [
                {"seq": first_seq + n, "card_ref": ref, "action": act, "reason": why, "at": at}
                for n, (at, _i, ref, act, why) in enumerate(denials)
            ],
        )
    counts = {state: 0 for state in CardState}
    for plan in plans:
        counts[plan.steps[-1][1]] += 1
    return counts


def _pick(rng: random.Random) -> str:
    draw = rng.random()
    for share, outcome in _MIX:
        if draw < share:
            return outcome
        draw -= share
    return "active"


def _gap(rng: random.Random) -> dt.timedelta:
    return dt.timedelta(days=rng.randint(1, 30), minutes=rng.randint(0, 600))


def _plan(
    resident_id: int, path: Sequence[CardAction], start: dt.datetime, rng: random.Random
) -> _PlannedCard:
    plan = _PlannedCard(resident_id)
    state, at = CardState.APPLIED, start
    plan.steps.append((None, state, at, "first application"))
    for action in path:
        state = service.TRANSITIONS[state][action]
        at += _gap(rng)
        plan.steps.append((action, state, at, _REASONS[action]))
    return plan


def _death_instant(died_on: dt.date | None, now: dt.datetime) -> dt.datetime:
    """Noon (Beijing) on the day after death, when the registry would have told us; never later
    than now."""
    if died_on is None:
        return now
    noon = dt.datetime.combine(died_on, dt.time(4, 0), tzinfo=dt.UTC) + dt.timedelta(days=1)
    return min(noon, now)


def _card_row(plan: _PlannedCard, card_no: str, city: str) -> dict[str, Any]:
    first_at = plan.steps[0][2]
    issued = [at for _a, state, at, _r in plan.steps if state is CardState.ISSUED]
    activated = [at for _a, state, at, _r in plan.steps if state is CardState.ACTIVE]
    return {
        "card_no": card_no,
        "card_ref": secrets.token_hex(8),
        "resident_id": plan.resident_id,
        "city_code": city,
        "state": plan.steps[-1][1],
        "replaces_card_id": None,
        "applied_at": first_at,
        "issued_at": issued[0] if issued else None,
        "activated_at": activated[0] if activated else None,
        "state_changed_at": plan.steps[-1][2],
    }


def _residents_with_a_card(session: Session, resident_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    ids = list(resident_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(session.scalars(select(Card.resident_id).where(Card.resident_id.in_(chunk))))
    return found
