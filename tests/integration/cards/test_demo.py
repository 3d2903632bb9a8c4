"""The demo's cards look like a real city's and obey the same rules as cards made one by one."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.integration.cards._lifecycle import make_resident
from yikatong.cards import service
from yikatong.cards.demo import give_cards_in_all_states
from yikatong.cards.models import LIVE_STATES, Card, CardEvent, CardState
from yikatong.cards.service import TRANSITIONS
from yikatong.core.ids import parse_card_number


def _residents(session: Session, count: int, deceased_every: int = 50) -> list[int]:
    return [
        make_resident(
            session,
            birth_date=dt.date(1930 + i % 80, 1 + i % 12, 1 + i % 28),
            died_on=dt.date(2024, 5, 1) if i % deceased_every == 0 else None,
        ).id
        for i in range(count)
    ]


@pytest.fixture
def demo_city(session: Session) -> tuple[list[int], dict[CardState, int]]:
    ids = _residents(session, 600)
    return ids, give_cards_in_all_states(session, ids, seed=7)


def test_every_state_appears_and_most_cards_are_active(session: Session, demo_city) -> None:
    ids, counts = demo_city
    assert all(counts[state] > 0 for state in CardState), counts
    assert counts[CardState.ACTIVE] > 0.8 * len(ids)
    assert counts[CardState.REPLACED] <= counts[CardState.ACTIVE]
    assert session.scalar(select(func.count()).select_from(Card)) == sum(counts.values())


def test_each_resident_has_at_most_one_live_card(session: Session, demo_city) -> None:
    ids, _ = demo_city
    live = session.execute(
        select(Card.resident_id, func.count())
        .where(Card.state.in_(LIVE_STATES))
        .group_by(Card.resident_id)
    ).all()
    assert all(count == 1 for _rid, count in live)
    assert {rid for rid, _ in live} <= set(ids)


def test_every_history_walks_the_transition_table(session: Session, demo_city) -> None:
    for card in session.scalars(select(Card)):
        assert parse_card_number(card.card_no) == card.card_no
        events = service.card_history(session, card)
        first = events[0]
        assert first.from_state is None
        assert first.to_state == ("issued" if card.replaces_card_id else "applied")
        for event in events[1:]:
            before, after = CardState(event.from_state), CardState(event.to_state)
            assert after in TRANSITIONS[before].values()
        assert [e.at for e in events] == sorted(e.at for e in events)
        assert events[-1].to_state == card.state.value
        assert events[-1].at == card.state_changed_at


def test_replacements_link_to_a_replaced_card_of_the_same_resident(
    session: Session, demo_city
) -> None:
    replacements = list(session.scalars(select(Card).where(Card.replaces_card_id.is_not(None))))
    assert replacements
    for new in replacements:
        old = session.get(Card, new.replaces_card_id)
        assert old is not None
        assert old.state is CardState.REPLACED
        assert old.resident_id == new.resident_id


def test_deceased_residents_hold_a_card_cancelled_on_their_death(
    session: Session, demo_city
) -> None:
    ids, _ = demo_city
    for resident_id in ids[::50]:
        (card,) = session.scalars(select(Card).where(Card.resident_id == resident_id))
        assert card.state is CardState.CANCELLED
        last = service.card_history(session, card)[-1]
        assert last.reason == "holder died"
        assert last.at.date() == dt.date(2024, 5, 2)


def test_the_deny_list_replays_to_the_denied_cards(session: Session, demo_city) -> None:
    entries = service.deny_list_since(session, 0, limit=10_000)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    denied: set[str] = set()
    for entry in entries:
        (denied.add if entry.action == "add" else denied.discard)(entry.card_ref)
    assert denied == service.denied_refs(session)


def test_demo_cards_go_on_through_the_ordinary_service(session: Session, demo_city) -> None:
    suspended = service.list_cards(session, state=CardState.SUSPENDED, limit=1)[0]
    head = service.deny_list_head(session)
    service.restore_card(session, suspended.card_no, actor="clerk-li", reason="found")
    assert [e.action for e in service.deny_list_since(session, head)] == ["remove"]
    resident = make_resident(session)
    card = service.apply_for_card(session, resident.id, actor="clerk-li")
    assert card.card_no not in {c.card_no for c in service.list_cards(session, limit=1000)[:-1]}


def test_residents_who_already_had_a_card_are_left_alone(session: Session, demo_city) -> None:
    ids, _ = demo_city
    events = session.scalar(select(func.count()).select_from(CardEvent))
    again = give_cards_in_all_states(session, ids, seed=8)
    assert sum(again.values()) == 0
    assert session.scalar(select(func.count()).select_from(CardEvent)) == events


@pytest.mark.slow
def test_ten_thousand_residents_get_cards_quickly(session: Session) -> None:
    ids = _residents(session, 10_000)
    started = time.perf_counter()
    counts = give_cards_in_all_states(session, ids, seed=1)
    elapsed = time.perf_counter() - started
    assert sum(counts.values()) >= 10_000
    assert elapsed < 30, f"{elapsed:.1f} s for 10k residents"
