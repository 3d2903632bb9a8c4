"""Enrolling residents: personal data encrypted, hashed for search, masked for display."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from tests.integration.registry.conftest import Enrol, resident_count, resident_payload
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.crypto.sm4 import DecryptionFailed, sm4_gcm_decrypt
from yikatong.node import Node
from yikatong.registry import service
from yikatong.registry.service import ResidentInput


def enrol_payload(node: Node, **changes: object):
    with node.transaction() as session:
        return service.enrol_resident(
            session, ResidentInput.model_validate(resident_payload(**changes)), actor="clerk-li"
        )


def test_enrolment_stores_masked_values_and_derived_sex_and_birth(node: Node) -> None:
    resident = enrol_payload(node, id_number="11010519491231002X")
    assert resident.id_masked == "110105********002X"
    assert resident.phone_masked == "138****1234"
    assert resident.bank_account_masked == "****5678"
    assert (resident.sex, resident.birth_date.isoformat()) == ("F", "1949-12-31")
    assert resident.created_by == "clerk-li"
    assert len(resident.person_ref) == 16


def test_no_clear_personal_data_is_stored(node: Node) -> None:
    enrol_payload(node, id_number="11010519491231002X")
    with node.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM resident")).mappings().one()
    stored = " ".join(str(value) for value in row.values())
    for clear in ("11010519491231002X", "13812341234", "6228480012345675678"):
        assert clear not in stored
    for column in ("id_enc", "phone_enc", "bank_account_enc"):
        assert clear.encode() not in bytes(row[column])


def test_ciphertext_is_bound_to_its_column(node: Node) -> None:
    resident = enrol_payload(node, id_number="11010519491231002X")
    key = node.data_keys.encryption_key
    assert sm4_gcm_decrypt(key, resident.id_enc, b"id_enc") == b"11010519491231002X"
    with pytest.raises(DecryptionFailed):
        sm4_gcm_decrypt(key, resident.id_enc, b"phone_enc")


def test_resident_is_found_by_id_number_through_the_hash(node: Node) -> None:
    enrolled = enrol_payload(node, id_number="11010519491231002X")
    with node.transaction() as session:
        found = service.find_by_id_number(session, "11010519491231002x")
        assert found is not None and found.id == enrolled.id
        assert service.get_by_person_ref(session, enrolled.person_ref).id == enrolled.id


def test_duplicate_id_number_is_a_conflict_and_stores_nothing(node: Node) -> None:
    enrol_payload(node, id_number="11010519491231002X")
    with pytest.raises(Conflict):
        enrol_payload(node, id_number="11010519491231002X", name="另一个人")
    assert resident_count(node) == 1


def test_invalid_input_stores_nothing(node: Node) -> None:
    with pytest.raises(InvalidInput):
        enrol_payload(node, phone="12345")
    assert resident_count(node) == 0


def test_unknown_resident_is_not_found(node: Node) -> None:
    with node.transaction() as session, pytest.raises(NotFound):
        service.get_resident(session, 999)


def test_search_by_name_prefix_id_number_and_district(node: Node, enrol: Enrol) -> None:
    wang = enrol(name="王建国")
    enrol(name="李秀英", district_code="370203")
    with node.transaction() as session:
        assert [r.id for r in service.search_residents(session, name="王")] == [wang.id]
        number = service.reveal(
            session, wang.id, actor="clerk", role="clerk", reason="test", fields=["id_number"]
        )["id_number"]
        assert [r.id for r in service.search_residents(session, id_number=number)] == [wang.id]
        in_shibei = service.search_residents(session, district_code="370203")
        assert [r.name for r in in_shibei] == ["李秀英"]


def test_search_name_wildcards_are_literal(node: Node, enrol: Enrol) -> None:
    enrol(name="王伟")
    with node.transaction() as session:
        assert service.search_residents(session, name="%") == []


def test_death_is_recorded_once(node: Node, enrol: Enrol) -> None:
    resident = enrol()
    with node.transaction() as session:
        dead = service.record_death(session, resident.id, dt.date(2025, 3, 1), actor="clerk")
        assert (dead.status, dead.died_on) == (service.ResidentStatus.DECEASED, dt.date(2025, 3, 1))
    with node.transaction() as session, pytest.raises(Conflict):
        service.record_death(session, resident.id, dt.date(2025, 3, 2), actor="clerk")


def test_death_cannot_be_in_the_future(node: Node, enrol: Enrol) -> None:
    resident = enrol()
    with node.transaction() as session, pytest.raises(InvalidInput) as caught:
        service.record_death(session, resident.id, dt.date(2025, 3, 11), actor="clerk")
    assert caught.value.field == "died_on"
