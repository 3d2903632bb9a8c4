"""Clear personal data only through an audited reveal (every read by staff audited)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, literal, select
from sqlalchemy.orm import aliased

from tests.integration.registry.conftest import Enrol
from yikatong.audit.models import AuditEntry
from yikatong.core.errors import Forbidden, InvalidInput, NotFound
from yikatong.node import Node
from yikatong.registry import service
from yikatong.registry.models import Resident


def audit_entries(node: Node) -> list[AuditEntry]:
    with node.transaction() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_reveal_returns_clear_values_and_writes_an_audit_entry(node: Node, enrol: Enrol) -> None:
    resident = enrol(phone="13912345678")
    with node.transaction() as session:
        revealed = service.reveal(
            session, resident.id, actor="clerk-wang", role="clerk", reason="窗口核对身份"
        )
    assert revealed["phone"] == "13912345678"
    assert revealed["bank_account"] == "6228480012345675678"
    assert revealed["id_number"][:6] == "370202"
    [entry] = audit_entries(node)
    assert (entry.actor, entry.role, entry.action) == ("clerk-wang", "clerk", "reveal")
    assert (entry.subject_type, entry.subject_id) == ("resident", str(resident.id))
    assert entry.reason == "窗口核对身份"
    assert entry.fields == "id_number,phone,bank_account"


def test_reveal_of_some_fields_audits_those_fields(node: Node, enrol: Enrol) -> None:
    resident = enrol()
    with node.transaction() as session:
        revealed = service.reveal(
            session, resident.id, actor="a", role="admin", reason="r", fields=["phone"]
        )
    assert list(revealed) == ["phone"]
    assert audit_entries(node)[0].fields == "phone"


def test_missing_values_are_left_out(node: Node, enrol: Enrol) -> None:
    resident = enrol(phone=None, bank_account=None)
    with node.transaction() as session:
        assert list(service.reveal(session, resident.id, actor="a", role="clerk", reason="r")) == [
            "id_number"
        ]


def test_reveal_needs_a_reason_and_then_audits_nothing(node: Node, enrol: Enrol) -> None:
    resident = enrol()
    with pytest.raises(InvalidInput) as caught, node.transaction() as session:
        service.reveal(session, resident.id, actor="clerk", role="clerk", reason="  ")
    assert caught.value.field == "reason"
    assert audit_entries(node) == []


def test_auditor_may_not_reveal(node: Node, enrol: Enrol) -> None:
    resident = enrol()
    with pytest.raises(Forbidden), node.transaction() as session:
        service.reveal(session, resident.id, actor="aud", role="auditor", reason="curious")
    assert audit_entries(node) == []


def test_unknown_field_is_refused(node: Node, enrol: Enrol) -> None:
    resident = enrol()
    with pytest.raises(InvalidInput) as caught, node.transaction() as session:
        service.reveal(session, resident.id, actor="c", role="clerk", reason="r", fields=["name"])
    assert caught.value.field == "fields"


def test_masked_reads_write_no_audit_entry(node: Node, enrol: Enrol) -> None:
    resident = enrol()
    with node.transaction() as session:
        service.get_resident(session, resident.id)
        service.search_residents(session, name="王")
        count = session.scalar(select(func.count()).select_from(AuditEntry))
    assert count == 0


def test_reveal_many_audits_each_resident_once_in_the_same_transaction(
    node: Node, enrol: Enrol
) -> None:
    first = enrol(bank_account="6228480012345675678")
    second = enrol(bank_account=None)
    with node.transaction() as session:
        revealed = service.reveal_many(
            session,
            [first.id, second.id, first.id],
            actor="system",
            role="admin",
            reason="bank file of batch 1",
            fields=["bank_account"],
        )
    assert revealed == {first.id: {"bank_account": "6228480012345675678"}, second.id: {}}
    entries = audit_entries(node)
    assert [(e.subject_id, e.fields, e.reason) for e in entries] == [
        (str(first.id), "bank_account", "bank file of batch 1"),
        (str(second.id), "bank_account", "bank file of batch 1"),
    ]


def test_reveal_many_refuses_an_unknown_resident_and_writes_nothing(
    node: Node, enrol: Enrol
) -> None:
    known = enrol()
    with pytest.raises(NotFound), node.transaction() as session:
        service.reveal_many(session, [known.id, 999_999], actor="a", role="clerk", reason="r")
    with pytest.raises(Forbidden), node.transaction() as session:
        service.reveal_many(session, [known.id], actor="a", role="auditor", reason="r")
    assert audit_entries(node) == []


def test_reveal_rows_streams_the_query_with_one_audit_entry_per_resident(
    node: Node, enrol: Enrol
) -> None:
    first = enrol(bank_account="6228480012345675678")
    second = enrol(bank_account="6217000010012345678")
    other = aliased(Resident)
    # Every resident twice (a cross join), in a stated order: as a batch's lines may be.
    rows = (
        select(Resident.id, other.id)
        .join_from(Resident, other, other.id.in_([first.id, second.id]))
        .where(Resident.id.in_([first.id, second.id]))
        .order_by(Resident.id.desc(), other.id)
    )
    with node.transaction() as session:
        revealed = list(
            service.reveal_rows(
                session,
                rows,
                actor="system:benefits",
                role="admin",
                reason="bank file of batch 9",
                fields=["bank_account"],
                chunk=1,
            )
        )
    accounts = {first.id: "6228480012345675678", second.id: "6217000010012345678"}
    assert revealed == [
        (a, b, accounts[a]) for a in (second.id, first.id) for b in (first.id, second.id)
    ]
    assert sorted((e.subject_id, e.action, e.fields, e.reason) for e in audit_entries(node)) == [
        (str(first.id), "reveal", "bank_account", "bank file of batch 9"),
        (str(second.id), "reveal", "bank_account", "bank file of batch 9"),
    ]


def test_reveal_rows_checks_the_role_at_once_and_refuses_an_unknown_resident(
    node: Node, enrol: Enrol
) -> None:
    known = enrol()
    rows = select(Resident.id).where(Resident.id == known.id)
    with pytest.raises(Forbidden), node.transaction() as session:
        service.reveal_rows(session, rows, actor="a", role="auditor", reason="r")
    with pytest.raises(InvalidInput), node.transaction() as session:
        service.reveal_rows(session, rows, actor="a", role="clerk", reason=" ")
    ghost = select(literal(999_999), Resident.name).where(Resident.id == known.id)
    with pytest.raises(NotFound), node.transaction() as session:
        list(service.reveal_rows(session, ghost, actor="a", role="clerk", reason="r"))
    assert audit_entries(node) == []
