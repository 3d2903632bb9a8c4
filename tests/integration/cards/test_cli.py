"""``ykt card`` at a service point: the same lifecycle from the command line."""

from __future__ import annotations

import functools

import pytest

from tests.conftest import Ykt
from tests.integration.cards._lifecycle import card_in, make_resident
from yikatong.cards import service
from yikatong.cards.models import CardState
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.node import Node


@pytest.fixture
def ykt(ykt: Ykt) -> Ykt:
    """``ykt card …`` on the test node."""
    return functools.partial(ykt, "card")


def _state(node: Node, card_no: str) -> CardState:
    with node.transaction() as session:
        return service.get_card(session, card_no).state


def test_apply_issue_activate_and_show(node: Node, ykt) -> None:
    with node.transaction() as session:
        resident_id = make_resident(session).id

    applied = ykt("apply", "--resident", str(resident_id), "--actor", "clerk-wang")
    assert applied.exit_code == 0, applied.output
    with node.transaction() as session:
        card = service.current_card_of(session, resident_id)
        assert card is not None
        card_no = card.card_no
    assert card_no in applied.output

    assert ykt("issue", card_no).exit_code == 0
    assert ykt("activate", card_no).exit_code == 0
    assert _state(node, card_no) is CardState.ACTIVE

    shown = ykt("show", card_no)
    assert shown.exit_code == 0
    assert "active" in shown.output
    assert "clerk-wang" in shown.output
    assert "first application" in shown.output


def test_report_lost_restore_formal_and_replace(node: Node, ykt) -> None:
    with node.transaction() as session:
        card_no = card_in(session, CardState.ACTIVE).card_no

    assert ykt("report-lost", card_no, "--reason", "lost on bus 5").exit_code == 0
    assert _state(node, card_no) is CardState.SUSPENDED
    assert ykt("restore", card_no).exit_code == 0
    assert ykt("report-lost", card_no, "--formal", "--reason", "not found").exit_code == 0
    assert _state(node, card_no) is CardState.LOST

    replaced = ykt("replace", card_no)
    assert replaced.exit_code == 0, replaced.output
    assert _state(node, card_no) is CardState.REPLACED
    with node.transaction() as session:
        old = service.get_card(session, card_no)
        new = service.current_card_of(session, old.resident_id)
        assert new is not None and new.replaces_card_id == old.id
    assert new.card_no in replaced.output


def test_cancel_needs_a_reason(node: Node, ykt) -> None:
    with node.transaction() as session:
        card_no = card_in(session, CardState.ISSUED).card_no
    assert ykt("cancel", card_no).exit_code != 0
    assert _state(node, card_no) is CardState.ISSUED
    assert ykt("cancel", card_no, "--reason", "holder moved away").exit_code == 0
    assert _state(node, card_no) is CardState.CANCELLED


def test_the_actor_defaults_to_the_os_user(node: Node, ykt) -> None:
    import getpass

    with node.transaction() as session:
        card_no = card_in(session, CardState.APPLIED).card_no
    assert ykt("issue", card_no).exit_code == 0
    with node.transaction() as session:
        card = service.get_card(session, card_no)
        assert service.card_history(session, card)[-1].actor == getpass.getuser()


def test_an_invalid_transition_fails_with_the_conflict(node: Node, ykt) -> None:
    with node.transaction() as session:
        card_no = card_in(session, CardState.APPLIED).card_no
    result = ykt("restore", card_no)
    assert result.exit_code == Conflict.exit_code, result.output
    assert "issue, cancel" in result.output


def test_a_malformed_card_number_fails_as_invalid_input(ykt) -> None:
    result = ykt("show", "123")
    assert result.exit_code == InvalidInput.exit_code, result.output


def test_list_plain_prints_only_card_numbers(node: Node, ykt) -> None:
    with node.transaction() as session:
        active = [card_in(session, CardState.ACTIVE).card_no for _ in range(2)]
        card_in(session, CardState.ISSUED)

    one = ykt("list", "--state", "active", "--limit", "1", "--format", "plain")
    assert one.exit_code == 0
    assert one.output == f"{active[0]}\n"

    every = ykt("list", "--state", "active", "--format", "plain")
    assert every.output.splitlines() == active


def test_list_table_shows_states(node: Node, ykt) -> None:
    with node.transaction() as session:
        card_no = card_in(session, CardState.SUSPENDED).card_no
    result = ykt("list")
    assert result.exit_code == 0
    assert card_no in result.output
    assert "suspended" in result.output


def test_list_rejects_an_unknown_state(ykt) -> None:
    result = ykt("list", "--state", "stolen")
    assert result.exit_code == 2
