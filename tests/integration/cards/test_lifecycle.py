"""The card lifecycle follows the transition table exactly, and records every step."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.integration.cards._lifecycle import PATH_TO, card_in, do, make_resident
from yikatong.cards import service
from yikatong.cards.models import CardEvent, CardState, DenyListEntry
from yikatong.cards.service import TRANSITIONS, CardAction
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.core.ids import parse_card_number

ALLOWED = [(state, action) for state, row in TRANSITIONS.items() for action in row]


@pytest.mark.parametrize(("state", "action"), ALLOWED, ids=lambda v: str(v))
def test_every_allowed_transition_moves_the_card_and_records_an_event(
    session: Session, state: CardState, action: CardAction
) -> None:
    card = card_in(session, state)
    events_before = len(service.card_history(session, card))

    do(session, card.card_no, action, actor="clerk-zhao")

    session.refresh(card)
    assert card.state is TRANSITIONS[state][action]
    history = service.card_history(session, card)
    assert len(history) == events_before + 1
    last = history[-1]
    assert (last.from_state, last.to_state) == (state.value, card.state.value)
    assert last.actor == "clerk-zhao"
    assert last.reason == f"test: {action.value}"
    assert last.at == card.state_changed_at


@pytest.mark.parametrize("state", list(CardState), ids=str)
def test_every_forbidden_transition_is_a_conflict_naming_the_allowed_ones_and_changes_nothing(
    session: Session, state: CardState
) -> None:
    card = card_in(session, state)
    events = session.scalar(select(func.count()).select_from(CardEvent))
    deny = session.scalar(select(func.count()).select_from(DenyListEntry))
    forbidden = [a for a in CardAction if a not in TRANSITIONS[state]]

    for action in forbidden:
        with pytest.raises(Conflict) as raised:
            do(session, card.card_no, action)
        assert raised.value.extra["current_state"] == state.value
        assert raised.value.extra["allowed"] == [a.value for a in TRANSITIONS[state]]
        assert state.value in raised.value.detail

    session.refresh(card)
    assert card.state is state
    assert session.scalar(select(func.count()).select_from(CardEvent)) == events
    assert session.scalar(select(func.count()).select_from(DenyListEntry)) == deny


def test_application_gives_a_valid_card_number_and_a_random_ref(session: Session) -> None:
    first = card_in(session, CardState.APPLIED)
    second = card_in(session, CardState.APPLIED)
    assert parse_card_number(first.card_no) == first.card_no
    assert first.card_no != second.card_no
    assert len(first.card_ref) == 16
    assert first.card_ref != second.card_ref
    assert first.city_code == "370200"
    assert [e.to_state for e in service.card_history(session, first)] == ["applied"]


def test_a_resident_with_a_live_card_cannot_apply_again(session: Session) -> None:
    card = card_in(session, CardState.SUSPENDED)
    with pytest.raises(Conflict) as raised:
        service.apply_for_card(session, card.resident_id, actor="clerk-li")
    assert card.card_no in raised.value.detail
    assert raised.value.extra["card_no"] == card.card_no


def test_a_resident_may_apply_again_after_cancelling(session: Session) -> None:
    old = card_in(session, CardState.CANCELLED)
    new = service.apply_for_card(session, old.resident_id, actor="clerk-li", reason="moved back")
    assert new.state is CardState.APPLIED
    assert service.current_card_of(session, old.resident_id) == new


def test_a_deceased_resident_cannot_apply(session: Session) -> None:
    resident = make_resident(session, died_on=dt.date(2025, 1, 5))
    with pytest.raises(Conflict, match="died on 2025-01-05"):
        service.apply_for_card(session, resident.id, actor="clerk-li")
    assert service.current_card_of(session, resident.id) is None


def test_an_unknown_resident_cannot_apply(session: Session) -> None:
    with pytest.raises(NotFound):
        service.apply_for_card(session, 999_999, actor="clerk-li")


def test_a_transition_needs_a_reason(session: Session) -> None:
    card = card_in(session, CardState.ACTIVE)
    with pytest.raises(InvalidInput) as raised:
        service.report_lost(session, card.card_no, actor="clerk-li", reason="  ")
    assert raised.value.field == "reason"
    session.refresh(card)
    assert card.state is CardState.ACTIVE


def test_a_malformed_card_number_is_invalid_input(session: Session) -> None:
    with pytest.raises(InvalidInput) as raised:
        service.get_card(session, "12345")
    assert raised.value.field == "card_no"


def test_an_unknown_card_number_is_not_found(session: Session) -> None:
    from yikatong.core.ids import card_number

    with pytest.raises(NotFound):
        service.issue_card(session, card_number(99_999_999), actor="clerk-li", reason="x")


def test_replacement_is_a_new_card_of_the_same_resident_linked_to_the_old_one(
    session: Session,
) -> None:
    old = card_in(session, CardState.LOST)

    new = service.replace_card(session, old.card_no, actor="clerk-li", reason="lost on bus 5")

    session.refresh(old)
    assert old.state is CardState.REPLACED
    assert new.resident_id == old.resident_id
    assert new.replaces_card_id == old.id
    assert new.card_no != old.card_no and new.card_ref != old.card_ref
    assert new.state is CardState.ISSUED
    assert service.current_card_of(session, old.resident_id) == new
    (event,) = service.card_history(session, new)
    assert event.from_state is None and event.to_state == "issued"
    assert old.card_no in event.reason


def test_a_replacement_card_is_activated_like_any_issued_card(session: Session) -> None:
    old = card_in(session, CardState.LOST)
    new = service.replace_card(session, old.card_no, actor="clerk-li", reason="lost")
    service.activate_card(session, new.card_no, actor="clerk-li", reason="received")
    assert new.state is CardState.ACTIVE
    assert new.activated_at is not None


def test_entitlements_carry_over_to_the_replacement(session: Session) -> None:
    resident = make_resident(session, birth_date=dt.date(1950, 1, 1), veteran=True)
    old = card_in(session, CardState.LOST, resident)
    new = service.replace_card(session, old.card_no, actor="clerk-li", reason="lost")
    assert service.card_entitlements(session, new) == service.card_entitlements(session, old)
    assert service.card_category(session, new) == "veteran"


def test_restoring_keeps_the_first_activation_time(session: Session) -> None:
    card = card_in(session, CardState.ACTIVE)
    activated = card.activated_at
    do(session, card.card_no, CardAction.REPORT_LOST_TEMPORARY)
    do(session, card.card_no, CardAction.RESTORE)
    assert card.activated_at == activated


def test_cancel_cards_of_cancels_the_live_card_on_death(session: Session) -> None:
    card = card_in(session, CardState.SUSPENDED)
    cancelled = service.cancel_cards_of(
        session, card.resident_id, actor="registry", reason="holder died"
    )
    assert cancelled == [card]
    assert card.state is CardState.CANCELLED
    assert service.current_card_of(session, card.resident_id) is None
    assert service.card_history(session, card)[-1].reason == "holder died"


def test_cancel_cards_of_a_resident_without_cards_does_nothing(session: Session) -> None:
    resident = make_resident(session)
    assert service.cancel_cards_of(session, resident.id, actor="registry", reason="died") == []


def test_list_cards_filters_by_state_and_resident(session: Session) -> None:
    active = card_in(session, CardState.ACTIVE)
    card_in(session, CardState.ISSUED)
    assert service.list_cards(session, state=CardState.ACTIVE) == [active]
    assert service.list_cards(session, resident_id=active.resident_id) == [active]
    with pytest.raises(InvalidInput):
        service.list_cards(session, limit=0)


def test_card_found_by_ref(session: Session) -> None:
    card = card_in(session, CardState.ACTIVE)
    assert service.get_card_by_ref(session, card.card_ref) == card
    with pytest.raises(NotFound):
        service.get_card_by_ref(session, "0" * 16)


def test_paths_reach_every_state() -> None:
    assert set(PATH_TO) == set(CardState)


def test_the_category_is_read_from_the_registry_on_today(session: Session, fixed_clock) -> None:
    # The fixed clock stands at 2025-03-10 in Beijing: this holder turns 70 today.
    resident = make_resident(session, birth_date=dt.date(1955, 3, 10))
    card = card_in(session, CardState.ACTIVE, resident)
    assert service.card_category(session, card) == "senior_70"
    assert service.card_category(session, card, on=dt.date(2025, 3, 9)) == "senior_60"
    assert service.card_entitlements(session, card) == {service.CardCategory.SENIOR_70}
