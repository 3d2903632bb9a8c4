"""Family relations (亲属关系) are stored with their inverse and checked for sense."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from tests.integration.registry.conftest import Enrol
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.node import Node
from yikatong.registry import service
from yikatong.registry.models import Relation
from yikatong.registry.service import RelationType


def relate(node: Node, resident_id: int, relative_id: int, relation: RelationType) -> None:
    with node.transaction() as session:
        service.add_relative(session, resident_id, relative_id, relation, actor="clerk")


def relation_rows(node: Node) -> int:
    with node.transaction() as session:
        return session.scalar(select(func.count()).select_from(Relation)) or 0


def test_a_relation_is_stored_with_its_inverse(node: Node, enrol: Enrol) -> None:
    child = enrol(birth=dt.date(2010, 1, 1))
    mother = enrol(birth=dt.date(1982, 1, 1), sex="F")
    relate(node, child.id, mother.id, RelationType.PARENT)
    with node.transaction() as session:
        assert service.relation_between(session, child.id, mother.id) == RelationType.PARENT
        assert service.relation_between(session, mother.id, child.id) == RelationType.CHILD
        assert [(r.id, rel) for r, rel in service.relatives_of(session, mother.id)] == [
            (child.id, RelationType.CHILD)
        ]


def test_spouses_and_siblings_are_their_own_inverse(node: Node, enrol: Enrol) -> None:
    husband, wife = enrol(), enrol(sex="F")
    relate(node, husband.id, wife.id, RelationType.SPOUSE)
    with node.transaction() as session:
        assert service.relation_between(session, wife.id, husband.id) == RelationType.SPOUSE


def test_grandparent_and_grandchild_are_inverse(node: Node, enrol: Enrol) -> None:
    grandchild, grandmother = enrol(birth=dt.date(2015, 6, 1)), enrol(birth=dt.date(1950, 1, 1))
    relate(node, grandmother.id, grandchild.id, RelationType.GRANDCHILD)
    with node.transaction() as session:
        assert (
            service.relation_between(session, grandchild.id, grandmother.id)
            == RelationType.GRANDPARENT
        )


def test_unrelated_residents_have_no_relation(node: Node, enrol: Enrol) -> None:
    first, second = enrol(), enrol()
    with node.transaction() as session:
        assert service.relation_between(session, first.id, second.id) is None
        assert service.relatives_of(session, first.id) == []


def test_nobody_is_their_own_relative(node: Node, enrol: Enrol) -> None:
    resident = enrol()
    with pytest.raises(InvalidInput):
        relate(node, resident.id, resident.id, RelationType.SIBLING)
    assert relation_rows(node) == 0


def test_a_pair_holds_one_relation(node: Node, enrol: Enrol) -> None:
    first, second = enrol(), enrol(sex="F")
    relate(node, first.id, second.id, RelationType.SPOUSE)
    with pytest.raises(Conflict):
        relate(node, second.id, first.id, RelationType.SIBLING)
    assert relation_rows(node) == 2


def test_relating_to_an_unknown_resident_is_not_found(node: Node, enrol: Enrol) -> None:
    resident = enrol()
    with pytest.raises(NotFound):
        relate(node, resident.id, 9999, RelationType.SPOUSE)
    assert relation_rows(node) == 0


def test_a_parent_must_be_older_than_the_child(node: Node, enrol: Enrol) -> None:
    older, younger = enrol(birth=dt.date(1960, 1, 1)), enrol(birth=dt.date(1990, 1, 1))
    with pytest.raises(InvalidInput) as caught:
        relate(node, older.id, younger.id, RelationType.PARENT)
    assert caught.value.field == "relation"
    with pytest.raises(InvalidInput):
        relate(node, younger.id, older.id, RelationType.CHILD)
    assert relation_rows(node) == 0
