"""The deny list (黑名单): terminals follow its deltas in order and always end at the current set."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.integration.cards._lifecycle import card_in, do
from yikatong.cards import service
from yikatong.cards.models import Card, CardState
from yikatong.cards.service import CardAction
from yikatong.core import clock
from yikatong.core.errors import InvalidInput


def _replay(entries: list[service.DenyListEntry]) -> set[str]:
    denied: set[str] = set()
    for entry in entries:
        if entry.action == "add":
            denied.add(entry.card_ref)
        else:
            denied.discard(entry.card_ref)
    return denied


def test_suspending_adds_and_restoring_removes_in_order(session: Session) -> None:
    card = card_in(session, CardState.ACTIVE)
    assert service.deny_list_since(session, 0) == []

    do(session, card.card_no, CardAction.REPORT_LOST_TEMPORARY)
    do(session, card.card_no, CardAction.RESTORE)

    entries = service.deny_list_since(session, 0)
    assert [(e.seq, e.card_ref, e.action) for e in entries] == [
        (1, card.card_ref, "add"),
        (2, card.card_ref, "remove"),
    ]
    assert entries[0].reason.startswith("suspended")


def test_lost_replaced_and_cancelled_cards_are_added(session: Session) -> None:
    lost = card_in(session, CardState.LOST)
    new = service.replace_card(session, lost.card_no, actor="clerk-li", reason="lost")
    cancelled = card_in(session, CardState.CANCELLED)

    entries = service.deny_list_since(session, 0)
    assert [(e.card_ref, e.reason.split(":")[0]) for e in entries] == [
        (lost.card_ref, "lost"),
        (lost.card_ref, "replaced"),
        (cancelled.card_ref, "cancelled"),
    ]
    assert new.card_ref not in service.denied_refs(session)


def test_deltas_continue_after_the_last_seq_received(session: Session) -> None:
    cards = [card_in(session, CardState.ACTIVE) for _ in range(3)]
    for card in cards:
        do(session, card.card_no, CardAction.REPORT_LOST_TEMPORARY)

    first = service.deny_list_since(session, 0, limit=2)
    rest = service.deny_list_since(session, first[-1].seq, limit=2)

    assert [e.card_ref for e in first + rest] == [c.card_ref for c in cards]
    assert service.deny_list_since(session, rest[-1].seq) == []
    assert service.deny_list_head(session) == rest[-1].seq


def test_sequence_numbers_are_gap_free_and_increasing(session: Session) -> None:
    for state in (CardState.SUSPENDED, CardState.LOST, CardState.CANCELLED, CardState.REPLACED):
        card_in(session, state)
    seqs = [e.seq for e in service.deny_list_since(session, 0)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_replaying_every_delta_gives_the_current_deny_set(session: Session) -> None:
    restored = card_in(session, CardState.SUSPENDED)
    do(session, restored.card_no, CardAction.RESTORE)
    for state in CardState:
        card_in(session, state)
    assert _replay(service.deny_list_since(session, 0)) == service.denied_refs(session)
    assert restored.card_ref not in service.denied_refs(session)


def test_a_rolled_back_transition_leaves_no_entry(node, session: Session) -> None:
    card = card_in(session, CardState.ACTIVE)
    session.commit()
    with pytest.raises(RuntimeError), node.transaction() as other:
        do(other, card.card_no, CardAction.REPORT_LOST_TEMPORARY)
        raise RuntimeError("the clerk's terminal crashed")
    with node.transaction() as fresh:
        assert service.deny_list_since(fresh, 0) == []
        assert service.deny_list_head(fresh) == 0
        do(fresh, card.card_no, CardAction.REPORT_LOST_TEMPORARY)
        assert [e.seq for e in service.deny_list_since(fresh, 0)] == [1]


def test_bad_paging_arguments_are_invalid_input(session: Session) -> None:
    with pytest.raises(InvalidInput) as negative:
        service.deny_list_since(session, -1)
    assert negative.value.field == "since"
    with pytest.raises(InvalidInput) as too_many:
        service.deny_list_since(session, 0, limit=0)
    assert too_many.value.field == "limit"


def test_the_database_itself_refuses_a_second_live_card(node, session: Session) -> None:
    card = card_in(session, CardState.ACTIVE)
    session.commit()
    with pytest.raises(IntegrityError), node.transaction() as other:
        now = clock.now()
        other.add(
            Card(
                card_no="000000019",
                card_ref="f" * 16,
                resident_id=card.resident_id,
                city_code="370200",
                state=CardState.APPLIED,
                applied_at=now,
                state_changed_at=now,
            )
        )
        other.flush()
