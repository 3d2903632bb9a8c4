"""The registry over HTTP: problem+json naming the field, masked reads, audited unmasking."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders
from tests.integration.registry.conftest import (
    Enrol,
    new_id_number,
    resident_count,
    resident_payload,
)
from yikatong.core.ids import make_resident_id
from yikatong.node import Node

URL = "/api/v1/residents"


def audit_count(client: TestClient, auth: AuthHeaders) -> int:
    return len(client.get("/api/v1/audit", headers=auth("auditor")).json())


def test_clerk_enrols_a_resident_and_sees_it_masked(client: TestClient, auth: AuthHeaders) -> None:
    payload = resident_payload(id_number="11010519491231002X")
    response = client.post(URL, json=payload, headers=auth("clerk"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id_number_masked"] == "110105********002X"
    assert body["phone_masked"] == "138****1234"
    assert body["bank_account_masked"] == "****5678"
    assert (body["sex"], body["birth_date"]) == ("F", "1949-12-31")
    assert "11010519491231002X" not in response.text and "13812341234" not in response.text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id_number": "110105194912310023"}, "id_number"),  # check character is X
        ({"id_number": "370202194902300123"}, "id_number"),  # 1949-02-30 does not exist
        ({"id_number": "1101051949123100"}, "id_number"),  # 16 characters
        ({"id_number": make_resident_id("370202", dt.date(2025, 6, 1), 12)}, "id_number"),  # future
        ({"name": ""}, "name"),
        ({"district_code": "3702"}, "district_code"),
        ({"phone": "02388888888"}, "phone"),
        ({"sex": "F"}, "sex"),  # the ID number says male
        ({"sex": "X"}, "sex"),
        ({"birth_date": "1980-05-18"}, "birth_date"),
        ({"disabled": "perhaps"}, "disabled"),
    ],
    ids=[
        "check-char", "impossible-date", "length", "future-birth", "name", "district", "phone",
        "sex-mismatch", "sex-value", "birth-mismatch", "flag",
    ],
)  # fmt: skip
def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    client: TestClient, auth: AuthHeaders, node: Node, changes: dict[str, object], field: str
) -> None:
    payload = resident_payload(**changes)
    response = client.post(URL, json=payload, headers=auth("clerk"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]]
    assert resident_count(node) == 0


def test_duplicate_resident_is_409(client: TestClient, auth: AuthHeaders, node: Node) -> None:
    payload = resident_payload()
    assert client.post(URL, json=payload, headers=auth("clerk")).status_code == 201
    response = client.post(URL, json=payload, headers=auth("admin"))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert resident_count(node) == 1


@pytest.mark.parametrize("role", ["auditor", "terminal"])
def test_only_clerks_and_admins_enrol(client: TestClient, auth: AuthHeaders, role: str) -> None:
    response = client.post(URL, json=resident_payload(), headers=auth(role))
    assert response.status_code == 403


def test_enrolment_needs_a_token(client: TestClient) -> None:
    assert client.post(URL, json=resident_payload()).status_code == 401


def test_masked_read_writes_no_audit_entry(
    client: TestClient, auth: AuthHeaders, enrol: Enrol
) -> None:
    resident = enrol()
    response = client.get(f"{URL}/{resident.id}", headers=auth("clerk"))
    assert response.status_code == 200
    assert response.json()["unmasked"] is None
    assert response.json()["phone_masked"] == "138****1234"
    assert audit_count(client, auth) == 0


def test_unmasked_read_by_a_clerk_is_audited(
    client: TestClient, auth: AuthHeaders, enrol: Enrol
) -> None:
    resident = enrol(phone="13900001111")
    response = client.get(
        f"{URL}/{resident.id}",
        params={"unmask": "true", "reason": "补卡核验"},
        headers=auth("clerk", subject="clerk-zhang"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["unmasked"]["phone"] == "13900001111"
    [entry] = client.get("/api/v1/audit", headers=auth("auditor")).json()
    assert (entry["actor"], entry["subject_id"], entry["reason"]) == (
        "clerk-zhang",
        str(resident.id),
        "补卡核验",
    )


def test_unmasking_needs_a_reason(client: TestClient, auth: AuthHeaders, enrol: Enrol) -> None:
    resident = enrol()
    response = client.get(f"{URL}/{resident.id}?unmask=true", headers=auth("clerk"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"
    assert audit_count(client, auth) == 0


def test_auditor_may_read_masked_but_not_unmask(
    client: TestClient, auth: AuthHeaders, enrol: Enrol
) -> None:
    resident = enrol()
    assert client.get(f"{URL}/{resident.id}", headers=auth("auditor")).status_code == 200
    response = client.get(
        f"{URL}/{resident.id}", params={"unmask": True, "reason": "x"}, headers=auth("auditor")
    )
    assert response.status_code == 403
    assert audit_count(client, auth) == 0


def test_resident_reads_own_record_but_not_a_strangers(
    client: TestClient, auth: AuthHeaders, enrol: Enrol
) -> None:
    me, stranger = enrol(), enrol()
    mine = auth("resident", resident_id=me.id)
    assert client.get(f"{URL}/{me.id}", headers=mine).status_code == 200
    response = client.get(f"{URL}/{stranger.id}", headers=mine)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_resident_reads_a_relative(client: TestClient, auth: AuthHeaders, enrol: Enrol) -> None:
    me, father = enrol(birth=dt.date(1995, 1, 1)), enrol(birth=dt.date(1965, 1, 1))
    linked = client.post(
        f"{URL}/{me.id}/relatives",
        json={"relative_id": father.id, "relation": "parent"},
        headers=auth("clerk"),
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["relative"]["id"] == father.id
    mine = auth("resident", resident_id=me.id)
    assert client.get(f"{URL}/{father.id}", headers=mine).status_code == 200
    relatives = client.get(f"{URL}/{me.id}/relatives", headers=mine).json()
    assert [(r["relation"], r["relative"]["id"]) for r in relatives] == [("parent", father.id)]


def test_resident_may_not_unmask(client: TestClient, auth: AuthHeaders, enrol: Enrol) -> None:
    me = enrol()
    response = client.get(
        f"{URL}/{me.id}",
        params={"unmask": True, "reason": "mine"},
        headers=auth("resident", resident_id=me.id),
    )
    assert response.status_code == 403


def test_relation_errors_are_problems(client: TestClient, auth: AuthHeaders, enrol: Enrol) -> None:
    me, peer = enrol(birth=dt.date(1990, 1, 1)), enrol(birth=dt.date(1991, 1, 1))
    relatives = f"{URL}/{me.id}/relatives"
    clerk = auth("clerk")
    assert client.post(relatives, json={"relative_id": me.id, "relation": "sibling"},
                       headers=clerk).status_code == 422  # fmt: skip
    assert client.post(relatives, json={"relative_id": 9999, "relation": "sibling"},
                       headers=clerk).status_code == 404  # fmt: skip
    assert client.post(relatives, json={"relative_id": peer.id, "relation": "cousin"},
                       headers=clerk).status_code == 422  # fmt: skip
    assert client.post(relatives, json={"relative_id": peer.id, "relation": "sibling"},
                       headers=clerk).status_code == 201  # fmt: skip
    assert client.post(relatives, json={"relative_id": peer.id, "relation": "sibling"},
                       headers=clerk).status_code == 409  # fmt: skip


def test_staff_search(client: TestClient, auth: AuthHeaders, enrol: Enrol) -> None:
    enrol(name="王建国")
    enrol(name="李秀英")
    response = client.get(URL, params={"name": "李"}, headers=auth("auditor"))
    assert [r["name"] for r in response.json()] == ["李秀英"]
    number = new_id_number()
    client.post(URL, json=resident_payload(id_number=number, name="张三"), headers=auth("clerk"))
    by_number = client.get(URL, params={"id_number": number}, headers=auth("clerk")).json()
    assert [r["name"] for r in by_number] == ["张三"]


def test_search_is_for_staff(client: TestClient, auth: AuthHeaders, enrol: Enrol) -> None:
    me = enrol()
    assert client.get(URL, headers=auth("resident", resident_id=me.id)).status_code == 403


def test_search_limit_out_of_range_is_422(client: TestClient, auth: AuthHeaders) -> None:
    response = client.get(URL, params={"limit": 0}, headers=auth("clerk"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"


def test_death_registration(client: TestClient, auth: AuthHeaders, enrol: Enrol) -> None:
    resident = enrol()
    death = f"{URL}/{resident.id}/death"
    response = client.post(death, json={"died_on": "2025-03-01"}, headers=auth("clerk"))
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["died_on"]) == ("deceased", "2025-03-01")
    again = client.post(death, json={"died_on": "2025-03-01"}, headers=auth("clerk"))
    assert again.status_code == 409


def test_unknown_resident_is_404(client: TestClient, auth: AuthHeaders) -> None:
    assert client.get(f"{URL}/4242", headers=auth("clerk")).status_code == 404
