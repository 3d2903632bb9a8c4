"""The e-SSC HTTP API: who may do what, the statuses of a refused code, nothing changed on bad
input."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders
from tests.integration.essc.conftest import People
from yikatong.essc import service
from yikatong.node import Node

PIN = "428135"


def bind(client: TestClient, auth: AuthHeaders, resident_id: int) -> int:
    response = client.post(
        "/api/v1/essc/accounts",
        json={"resident_id": resident_id, "app_account_id": f"wx-{resident_id}"},
        headers=auth("resident", resident_id=resident_id),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def qr(
    client: TestClient, auth: AuthHeaders, resident_id: int, **body: object
) -> dict[str, object]:
    response = client.post(
        "/api/v1/essc/qr", json=body, headers=auth("resident", resident_id=resident_id)
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_a_resident_binds_shows_a_code_and_a_terminal_verifies_it_once(
    client: TestClient, auth: AuthHeaders, people: People
) -> None:
    person = people.resident()
    bind(client, auth, person.resident_id)
    issued = qr(client, auth, person.resident_id, level="L1")
    assert base64.b64decode(str(issued["png_base64"])).startswith(b"\x89PNG")
    first = client.post(
        "/api/v1/essc/verify", json={"text": issued["text"]}, headers=auth("terminal")
    )
    assert first.status_code == 200, first.text
    assert first.json()["claims"]["card_ref"] == person.card_ref
    assert first.json()["identity"]["name"] == "王**"
    again = client.post(
        "/api/v1/essc/verify", json={"text": issued["text"]}, headers=auth("terminal")
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["reason"] == "replayed"


def test_an_unreadable_code_is_422_with_its_reason(client: TestClient, auth: AuthHeaders) -> None:
    response = client.post("/api/v1/essc/verify", json={"text": "YK1:!!"}, headers=auth("terminal"))
    assert response.status_code == 422
    assert response.json()["reason"] == "malformed"


def test_a_resident_token_cannot_verify_codes(
    client: TestClient, auth: AuthHeaders, people: People
) -> None:
    person = people.resident()
    response = client.post(
        "/api/v1/essc/verify",
        json={"text": "YK1:ABC"},
        headers=auth("resident", resident_id=person.resident_id),
    )
    assert response.status_code == 403


def test_a_resident_cannot_bind_someone_else(
    client: TestClient, auth: AuthHeaders, people: People, node: Node
) -> None:
    me, other = people.resident(), people.resident()
    response = client.post(
        "/api/v1/essc/accounts",
        json={"resident_id": other.resident_id, "app_account_id": "wx-steal"},
        headers=auth("resident", resident_id=me.resident_id),
    )
    assert response.status_code == 403
    with node.transaction() as session:
        assert service.account_of(session, other.resident_id) is None


def test_bad_input_names_the_field_and_changes_nothing(
    client: TestClient, auth: AuthHeaders, people: People, node: Node
) -> None:
    person = people.resident()
    response = client.post(
        "/api/v1/essc/accounts",
        json={"resident_id": person.resident_id, "app_account_id": "a b c"},
        headers=auth("clerk"),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "app_account_id"
    with node.transaction() as session:
        assert service.account_of(session, person.resident_id) is None


def test_family_members_are_added_and_removed_over_http(
    client: TestClient, auth: AuthHeaders, people: People
) -> None:
    holder, sibling = people.resident(), people.resident()
    people.relate(holder, sibling)
    account_id = bind(client, auth, holder.resident_id)
    headers = auth("resident", resident_id=holder.resident_id)
    added = client.post(
        f"/api/v1/essc/accounts/{account_id}/family",
        json={"relative_id": sibling.resident_id},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    assert added.json()["family"][0]["relation"] == "sibling"
    stranger = people.resident()
    refused = client.post(
        f"/api/v1/essc/accounts/{account_id}/family",
        json={"relative_id": stranger.resident_id},
        headers=headers,
    )
    assert refused.status_code == 422
    removed = client.delete(
        f"/api/v1/essc/accounts/{account_id}/family/{sibling.resident_id}", headers=headers
    )
    assert removed.status_code == 204


def test_five_wrong_pins_over_http_lock_with_423_until_a_clerk_resets(
    client: TestClient, auth: AuthHeaders, people: People
) -> None:
    person = people.resident()
    account_id = bind(client, auth, person.resident_id)
    me = auth("resident", resident_id=person.resident_id)
    put = client.put(f"/api/v1/essc/accounts/{account_id}/pin", json={"new_pin": PIN}, headers=me)
    assert put.status_code == 204, put.text
    statuses = [
        client.post(
            "/api/v1/essc/qr", json={"level": "L2", "pin": "000000"}, headers=me
        ).status_code
        for _ in range(5)
    ]
    # Each wrong try is counted although its request fails: the count survives the rollback.
    assert statuses == [403, 403, 403, 403, 423]
    locked = client.post("/api/v1/essc/qr", json={"level": "L2", "pin": PIN}, headers=me)
    assert locked.status_code == 423
    assert client.delete(f"/api/v1/essc/accounts/{account_id}/pin", headers=me).status_code == 403
    reset = client.delete(f"/api/v1/essc/accounts/{account_id}/pin", headers=auth("clerk"))
    assert reset.status_code == 204
    client.put(f"/api/v1/essc/accounts/{account_id}/pin", json={"new_pin": "975310"}, headers=me)
    assert qr(client, auth, person.resident_id, level="L2", pin="975310")["claims"]


def test_the_trust_list_is_public_and_lists_this_citys_keys(
    client: TestClient, auth: AuthHeaders, people: People
) -> None:
    person = people.resident()
    bind(client, auth, person.resident_id)
    key_id = qr(client, auth, person.resident_id)["claims"]["key_id"]  # type: ignore[index]
    response = client.get("/api/v1/essc/trust-list")
    assert response.status_code == 200
    assert [k["key_id"] for k in response.json()] == [key_id]
    assert response.json()[0]["city_code"] == "370200"


def test_a_terminal_downloads_deny_list_changes(
    client: TestClient, auth: AuthHeaders, people: People
) -> None:
    person = people.resident()
    assert person.card_no is not None
    from yikatong.cards import service as cards_service

    node: Node = client.app.state.node  # type: ignore[attr-defined]
    with node.transaction() as session:
        cards_service.report_lost(session, person.card_no, actor="clerk", reason="call")
    response = client.get("/api/v1/essc/deny-list?since=0", headers=auth("terminal"))
    assert response.status_code == 200
    assert {"card_ref": person.card_ref, "action": "add"}.items() <= response.json()[-1].items()
