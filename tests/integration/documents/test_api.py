"""The certificate HTTP API: residents download their own, clerks issue for anyone (audited),
anyone verifies, staff revoke; bad input is a 422 problem naming the field."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders
from tests.integration.documents.conftest import People, scan_qr
from tests.integration.documents.tampering import edit_embedded_content
from yikatong.audit import service as audit_service
from yikatong.node import Node

PROOF = "/api/v1/documents/proof-of-insurance.pdf"
CONTRIBUTIONS = "/api/v1/documents/contributions.pdf"
VERIFY = "/api/v1/documents/verify"


def upload(client: TestClient, data: bytes) -> object:
    return client.post(VERIFY, files={"file": ("certificate.pdf", data, "application/pdf")})


def test_a_resident_downloads_a_proof_and_anyone_verifies_it(
    client: TestClient, auth: AuthHeaders, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    got = client.get(PROOF, headers=auth("resident", resident_id=person.resident_id))
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/pdf"
    serial = got.headers["x-document-serial"]
    assert serial in got.headers["content-disposition"]
    checked = upload(client, got.content)  # no token: verification is public
    assert checked.status_code == 200, checked.text  # type: ignore[attr-defined]
    body = checked.json()  # type: ignore[attr-defined]
    assert body["valid"] and body["registered"]
    assert body["seal"]["serial"] == serial
    assert body["content"]["holder"] == {"name": "王小明", "id": person.id_masked}
    by_text = client.post(VERIFY, data={"text": scan_qr(got.content, tmp_path)})
    assert by_text.status_code == 200, by_text.text
    assert by_text.json()["content"]["serial"] == serial


def test_a_clerk_issues_for_a_resident_and_the_issue_is_audited(
    client: TestClient, auth: AuthHeaders, people: People, node: Node
) -> None:
    person = people.resident()
    people.payments(person, [(4_600, "退费")])
    got = client.post(
        "/api/v1/documents",
        json={"resident_id": person.resident_id, "type": "contributions"},
        headers=auth("clerk", subject="clerk-7"),
    )
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/pdf"
    staff_get = client.get(
        PROOF, params={"resident_id": person.resident_id}, headers=auth("clerk", subject="clerk-7")
    )
    assert staff_get.status_code == 200
    with node.transaction() as session:
        entries = audit_service.search(session, actor="clerk-7")
    assert [e.action for e in entries] == ["document.issue", "document.issue"]
    listed = client.get(
        "/api/v1/documents", params={"resident_id": person.resident_id}, headers=auth("clerk")
    )
    assert [d["type"] for d in listed.json()] == ["proof", "contributions"]


def test_a_resident_cannot_download_another_residents_certificate(
    client: TestClient, auth: AuthHeaders, people: People
) -> None:
    me, other = people.resident(), people.resident(name="李华")
    got = client.get(
        PROOF,
        params={"resident_id": other.resident_id},
        headers=auth("resident", resident_id=me.resident_id),
    )
    assert got.status_code == 403
    assert got.headers["content-type"] == "application/problem+json"


def test_a_revoked_certificate_fails_online_with_409(
    client: TestClient, auth: AuthHeaders, people: People
) -> None:
    person = people.resident()
    got = client.get(PROOF, headers=auth("resident", resident_id=person.resident_id))
    serial = got.headers["x-document-serial"]
    refused = client.post(
        f"/api/v1/documents/{serial}/revoke",
        json={"reason": "wrong person"},
        headers=auth("resident", resident_id=person.resident_id),
    )
    assert refused.status_code == 403
    revoked = client.post(
        f"/api/v1/documents/{serial}/revoke", json={"reason": "wrong person"}, headers=auth("clerk")
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoke_reason"] == "wrong person"
    checked = upload(client, got.content)
    assert checked.status_code == 409  # type: ignore[attr-defined]
    assert checked.json()["reason"] == "revoked"  # type: ignore[attr-defined]
    again = client.post(
        f"/api/v1/documents/{serial}/revoke", json={"reason": "twice"}, headers=auth("clerk")
    )
    assert again.status_code == 409


def test_a_tampered_upload_is_a_422_problem_with_its_reason(
    client: TestClient, auth: AuthHeaders, people: People
) -> None:
    person = people.resident()
    got = client.get(PROOF, headers=auth("resident", resident_id=person.resident_id))
    checked = upload(client, edit_embedded_content(got.content, "王小明", "张小明"))
    assert checked.status_code == 422  # type: ignore[attr-defined]
    assert checked.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert checked.json()["reason"] == "digest-mismatch"  # type: ignore[attr-defined]
    junk = upload(client, b"not a pdf")
    assert junk.json()["reason"] == "unreadable"  # type: ignore[attr-defined]
    garbled = client.post(VERIFY, data={"text": "YKD1:$$$"})
    assert garbled.status_code == 422 and garbled.json()["reason"] == "malformed"


def test_bad_input_is_a_422_naming_the_field_and_nothing_is_issued(
    client: TestClient, auth: AuthHeaders, people: People
) -> None:
    person = people.resident()
    nothing = client.post(VERIFY)
    assert nothing.status_code == 422
    assert nothing.headers["content-type"] == "application/problem+json"
    assert nothing.json()["errors"][0]["field"] == "file"
    headers = auth("resident", resident_id=person.resident_id)
    backwards = client.get(
        CONTRIBUTIONS, params={"since": "2025-03-01", "until": "2025-02-01"}, headers=headers
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "since"
    future = client.get(CONTRIBUTIONS, params={"until": "2025-12-31"}, headers=headers)
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "until"
    bad_type = client.post(
        "/api/v1/documents",
        json={"resident_id": person.resident_id, "type": "diploma"},
        headers=auth("clerk"),
    )
    assert bad_type.status_code == 422
    no_resident = client.get(PROOF, headers=auth("clerk"))
    assert no_resident.status_code == 422
    assert no_resident.json()["errors"][0]["field"] == "resident_id"
    listed = client.get("/api/v1/documents", headers=headers)
    assert listed.json() == []
