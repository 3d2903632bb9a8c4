"""The transition table is the whole lifecycle: its shape is the rule."""

from __future__ import annotations

from yikatong.cards.models import DENIED_STATES, LIVE_STATES, CardState
from yikatong.cards.service import TRANSITIONS, CardAction, allowed_actions


def test_every_state_has_a_row() -> None:
    assert set(TRANSITIONS) == set(CardState)


def test_replaced_and_cancelled_cards_are_closed() -> None:
    assert allowed_actions(CardState.REPLACED) == []
    assert allowed_actions(CardState.CANCELLED) == []


def test_every_live_state_can_be_cancelled() -> None:
    for state in LIVE_STATES:
        assert TRANSITIONS[state][CardAction.CANCEL] is CardState.CANCELLED


def test_only_a_suspended_card_can_be_restored() -> None:
    restorable = {s for s, row in TRANSITIONS.items() if CardAction.RESTORE in row}
    assert restorable == {CardState.SUSPENDED}
    assert TRANSITIONS[CardState.SUSPENDED][CardAction.RESTORE] is CardState.ACTIVE


def test_a_card_is_formally_lost_only_from_active_or_suspended() -> None:
    froms = {s for s, row in TRANSITIONS.items() if CardAction.REPORT_LOST_FORMAL in row}
    assert froms == {CardState.ACTIVE, CardState.SUSPENDED}


def test_only_a_formally_lost_card_can_be_replaced() -> None:
    froms = {s for s, row in TRANSITIONS.items() if CardAction.REPLACE in row}
    assert froms == {CardState.LOST}


def test_every_state_is_reachable_from_applied() -> None:
    seen, frontier = {CardState.APPLIED}, [CardState.APPLIED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(CardState)


def test_denied_states_are_exactly_the_unusable_ones() -> None:
    assert {
        CardState.SUSPENDED,
        CardState.LOST,
        CardState.REPLACED,
        CardState.CANCELLED,
    } == DENIED_STATES
    assert set(CardState) == LIVE_STATES | DENIED_STATES
