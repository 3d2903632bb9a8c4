"""``/api/v1/benefits``: clerks run the cycle, a second clerk approves, residents see their own
payments, and bad input is refused with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders
from tests.integration.benefits.conftest import World, bank_lines, return_file
from yikatong.api.app import create_app
from yikatong.node import Node

MAKER = {"subject": "clerk-a"}
CHECKER = {"subject": "clerk-b"}


@pytest.fixture
def api(demo_node: Node) -> Iterator[TestClient]:
    with TestClient(create_app(node=demo_node), raise_server_exceptions=True) as test_client:
        yield test_client


def _programme(api: TestClient, auth: AuthHeaders, world: World, *residents: int) -> int:
    created = api.post(
        "/api/v1/benefits/programmes",
        json={"code": "unemployment", "kind": "unemployment_benefit", "amount": "1980.50"},
        headers=auth("clerk", **MAKER),
    )
    assert created.status_code == 201, created.text
    programme = created.json()
    assert (programme["amount"], programme["pay_day"]) == (198050, 15)
    pid = int(programme["id"])
    funded = api.post(
        f"/api/v1/benefits/programmes/{pid}/funding",
        json={"amount": "10000", "reference": "CZ-1"},
        headers=auth("clerk", **MAKER),
    )
    assert funded.json()["budget_balance"] == 1_000_000
    for rid in residents:
        enrolled = api.post(
            f"/api/v1/benefits/programmes/{pid}/beneficiaries",
            json={"resident_id": rid, "first_month": "2025-03"},
            headers=auth("clerk", **MAKER),
        )
        assert enrolled.status_code == 201, enrolled.text
    return pid


def test_the_cycle_over_http_and_the_resident_sees_the_payment(
    api: TestClient, auth: AuthHeaders, world: World
) -> None:
    rid = world.resident("孙悟空")
    pid = _programme(api, auth, world, rid)
    batch = api.post(
        "/api/v1/benefits/batches",
        json={"programme_id": pid, "month": "2025-03"},
        headers=auth("clerk", **MAKER),
    )
    assert batch.status_code == 201, batch.text
    bid = batch.json()["id"]
    refused = api.post(f"/api/v1/benefits/batches/{bid}/approval", headers=auth("clerk", **MAKER))
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    approved = api.post(
        f"/api/v1/benefits/batches/{bid}/approval", headers=auth("clerk", **CHECKER)
    )
    assert approved.json()["status"] == "approved"
    exported = api.post(f"/api/v1/benefits/batches/{bid}/bank-file", headers=auth("clerk", **MAKER))
    assert exported.status_code == 200 and exported.headers["x-total-fen"] == "198050"
    header, rows = bank_lines(exported.text)
    assert header[-2:] == ["1", "198050"] and rows[0][2] == "孙*空"
    line_id = int(rows[0][1])
    answer = return_file([(line_id, 198050, "paid", "ICBC-77", "")])
    imported = api.post(
        f"/api/v1/benefits/batches/{bid}/return-file",
        content=answer.encode(),
        headers={**auth("clerk", **CHECKER), "content-type": "text/csv"},
    )
    assert imported.json() == {
        "batch_id": bid,
        "paid": 1,
        "failed": 0,
        "unchanged": 0,
        "batch_status": "closed",
    }
    report = api.get(f"/api/v1/benefits/batches/{bid}/report", headers=auth("auditor")).json()
    assert report["balanced"] and report["paid"] == {"count": 1, "amount": 198050}
    traced = api.get(
        "/api/v1/benefits/payments", params={"resident_id": rid}, headers=auth("auditor")
    ).json()
    assert [(t["programme_code"], t["batch_id"], t["bank_reference"]) for t in traced] == [
        ("unemployment", bid, "ICBC-77")
    ]
    assert traced[0]["bank_account_masked"] == "****2233"
    mine = api.get("/api/v1/benefits/me/payments", headers=auth("resident", resident_id=rid))
    assert [t["line_id"] for t in mine.json()] == [line_id]
    other = world.resident()
    assert (
        api.get("/api/v1/benefits/me/payments", headers=auth("resident", resident_id=other)).json()
        == []
    )
    assert (
        api.get(
            "/api/v1/benefits/payments",
            params={"resident_id": rid},
            headers=auth("resident", resident_id=rid),
        ).status_code
        == 403
    )


def test_a_bad_return_file_is_422_with_line_numbers_and_nothing_changes(
    api: TestClient, auth: AuthHeaders, world: World
) -> None:
    pid = _programme(api, auth, world, world.resident())
    bid = api.post(
        "/api/v1/benefits/batches",
        json={"programme_id": pid, "month": "2025-03"},
        headers=auth("clerk", **MAKER),
    ).json()["id"]
    api.post(f"/api/v1/benefits/batches/{bid}/approval", headers=auth("clerk", **CHECKER))
    _, rows = bank_lines(
        api.post(f"/api/v1/benefits/batches/{bid}/bank-file", headers=auth("clerk")).text
    )
    line_id = int(rows[0][1])
    bad = return_file([(line_id, 1, "paid", "X1", ""), (line_id + 50, 198050, "paid", "X2", "")])
    refused = api.post(
        f"/api/v1/benefits/batches/{bid}/return-file",
        content=bad.encode(),
        headers={**auth("clerk"), "content-type": "text/csv"},
    )
    assert refused.status_code == 422
    assert [(e["line"], e["field"]) for e in refused.json()["errors"]] == [
        (2, "amount_fen"),
        (3, "line_id"),
    ]
    lines = api.get(f"/api/v1/benefits/batches/{bid}/lines", headers=auth("clerk")).json()
    assert [line["status"] for line in lines] == ["pending"]
    report = api.get(f"/api/v1/benefits/batches/{bid}/report", headers=auth("clerk")).json()
    assert report["pending"] == {"count": 1, "amount": 198050} and report["balanced"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/benefits/programmes", {"code": "Bad Code", "kind": "subsidy"}, "code"),
        ("/api/v1/benefits/programmes", {"code": "x1", "kind": "lottery"}, "kind"),
        (
            "/api/v1/benefits/programmes",
            {"code": "ok-1", "kind": "subsidy", "amount": "1.234"},
            "amount",
        ),
        (
            "/api/v1/benefits/programmes",
            {"code": "ok-2", "kind": "subsidy", "amount": "-5"},
            "amount",
        ),
        ("/api/v1/benefits/batches", {"programme_id": 1, "month": "2025-13"}, "month"),
        ("/api/v1/benefits/batches", {"programme_id": 0, "month": "2025-03"}, "programme_id"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    api: TestClient, auth: AuthHeaders, path: str, body: dict[str, object], field: str
) -> None:
    response = api.post(path, json=body, headers=auth("clerk"))
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert api.get("/api/v1/benefits/programmes", headers=auth("clerk")).json() == []
    assert api.get("/api/v1/benefits/batches", headers=auth("clerk")).json() == []


def test_enrolling_without_a_payout_account_is_422(
    api: TestClient, auth: AuthHeaders, world: World
) -> None:
    pid = _programme(api, auth, world)
    rid = world.resident(bank_account=None)
    response = api.post(
        f"/api/v1/benefits/programmes/{pid}/beneficiaries",
        json={"resident_id": rid},
        headers=auth("clerk"),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "resident_id"
    listed = api.get(f"/api/v1/benefits/programmes/{pid}/beneficiaries", headers=auth("clerk"))
    assert listed.json() == []


def test_ids_out_of_range_are_422_and_unknown_ones_404(api: TestClient, auth: AuthHeaders) -> None:
    assert api.get("/api/v1/benefits/batches/0", headers=auth("clerk")).status_code == 422
    assert api.get("/api/v1/benefits/batches/2147483648", headers=auth("clerk")).status_code == 422
    assert api.get("/api/v1/benefits/batches/7", headers=auth("clerk")).status_code == 404
