"""Binding the e-SSC to an app account, and the family account (亲情账户) of up to 8 relatives."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.essc.conftest import CLERK, People
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.essc import service
from yikatong.node import Node
from yikatong.registry import service as registry_service


def test_a_resident_with_a_live_card_binds_one_account(node: Node, people: People) -> None:
    person = people.resident()
    account_id = people.account(person)
    with node.transaction() as session:
        account = service.get_account(session, account_id)
        assert account.resident_id == person.resident_id
        assert account.pin_hash is None


def test_a_second_account_for_the_same_resident_is_refused(node: Node, people: People) -> None:
    person = people.resident()
    people.account(person)
    with pytest.raises(Conflict, match="already has e-SSC account"), node.transaction() as session:
        service.bind_account(session, person.resident_id, "another-app", actor=CLERK)


def test_an_app_account_bound_to_someone_else_is_refused(node: Node, people: People) -> None:
    first, second = people.resident(), people.resident()
    people.account(first)
    with pytest.raises(Conflict, match="already bound"), node.transaction() as session:
        service.bind_account(session, second.resident_id, f"app-{first.resident_id}", actor=CLERK)


def test_a_deceased_resident_cannot_bind(node: Node, people: People) -> None:
    person = people.resident()
    with node.transaction() as session:
        registry_service.record_death(session, person.resident_id, dt.date(2025, 3, 1), actor=CLERK)
    with pytest.raises(Conflict, match="deceased"), node.transaction() as session:
        service.bind_account(session, person.resident_id, "app-dead", actor=CLERK)


def test_a_resident_without_a_card_cannot_bind(node: Node, people: People) -> None:
    person = people.resident(card=False)
    with pytest.raises(Conflict, match="apply for a card first"), node.transaction() as session:
        service.bind_account(session, person.resident_id, "app-nocard", actor=CLERK)


def test_a_malformed_app_account_id_names_the_field(node: Node, people: People) -> None:
    person = people.resident()
    with pytest.raises(InvalidInput) as caught, node.transaction() as session:
        service.bind_account(session, person.resident_id, "a b", actor=CLERK)
    assert caught.value.field == "app_account_id"


def test_the_family_account_holds_eight_relatives_and_refuses_a_ninth(
    node: Node, people: People
) -> None:
    holder = people.resident()
    account_id = people.account(holder)
    siblings = [people.resident(card=False) for _ in range(9)]
    for sibling in siblings:
        people.relate(holder, sibling)
    with node.transaction() as session:
        for sibling in siblings[:8]:
            service.add_family_member(session, account_id, sibling.resident_id, actor=CLERK)
    with pytest.raises(Conflict, match="8 relatives, the maximum"), node.transaction() as session:
        service.add_family_member(session, account_id, siblings[8].resident_id, actor=CLERK)
    with node.transaction() as session:
        assert len(service.family_of(session, account_id)) == 8


def test_a_resident_who_is_not_a_registered_relative_is_refused(node: Node, people: People) -> None:
    holder, stranger = people.resident(), people.resident(card=False)
    account_id = people.account(holder)
    with (
        pytest.raises(InvalidInput, match="not a registered relative") as caught,
        node.transaction() as session,
    ):
        service.add_family_member(session, account_id, stranger.resident_id, actor=CLERK)
    assert caught.value.field == "relative_id"


def test_adding_the_same_relative_twice_is_refused(node: Node, people: People) -> None:
    holder, child = people.resident(), people.resident(birth=dt.date(2012, 1, 5), card=False)
    people.relate(holder, child, registry_service.RelationType.CHILD)
    account_id = people.account(holder)
    with node.transaction() as session:
        member = service.add_family_member(session, account_id, child.resident_id, actor=CLERK)
        assert member.relation == "child"
    with pytest.raises(Conflict, match="already in this family"), node.transaction() as session:
        service.add_family_member(session, account_id, child.resident_id, actor=CLERK)


def test_a_removed_relative_frees_a_place(node: Node, people: People) -> None:
    holder, sibling = people.resident(), people.resident(card=False)
    people.relate(holder, sibling)
    account_id = people.account(holder)
    with node.transaction() as session:
        service.add_family_member(session, account_id, sibling.resident_id, actor=CLERK)
    with node.transaction() as session:
        service.remove_family_member(session, account_id, sibling.resident_id)
        assert service.family_of(session, account_id) == []
    with pytest.raises(NotFound), node.transaction() as session:
        service.remove_family_member(session, account_id, sibling.resident_id)
