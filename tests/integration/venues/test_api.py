"""The HTTP faces of venues: signed gates, residents buying and reading their own, staff
keeping the catalogue; bad input is a problem+json 4xx that changes nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders
from tests.integration.venues._world import MUSEUM, OPERATOR, TICKET, TIMED, World


def test_a_resident_buys_a_ticket_and_the_gate_opens(
    world: World, client: TestClient, auth: AuthHeaders
) -> None:
    rider = world.rider()
    me = auth("resident", resident_id=rider.resident_id)
    bought = client.post(
        "/api/v1/venues/tickets", json={"product": TICKET, "idempotency_key": "web-1"}, headers=me
    )
    assert bought.status_code == 201, bought.text
    assert (bought.json()["amount"], bought.json()["status"]) == (2000, "valid")
    opened = world.post_scan(client, {"scan_seq": 1, "card_no": rider.card_no})
    assert opened.status_code == 200, opened.text
    assert (opened.json()["decision"], opened.json()["reason"]) == ("open", "ticket")
    mine = client.get("/api/v1/venues/my/tickets", headers=me).json()
    assert [(t["reference"], t["status"]) for t in mine] == [(bought.json()["reference"], "used")]
    entries = client.get("/api/v1/venues/my/entries", headers=me).json()
    assert [(e["venue"], e["outcome"]) for e in entries] == [(MUSEUM, "admitted")]


def test_a_gate_request_must_be_signed(world: World, client: TestClient) -> None:
    unsigned = client.post(
        "/api/v1/terminal/venue-entries", json={"scan_seq": 1, "card_no": "000000001"}
    )
    assert unsigned.status_code == 401
    assert unsigned.headers["content-type"].startswith("application/problem+json")
    both = world.post_scan(client, {"scan_seq": 1})
    assert both.status_code == 422


def test_a_resident_cannot_buy_for_someone_else_and_an_auditor_cannot_buy(
    world: World, client: TestClient, auth: AuthHeaders
) -> None:
    rider, other = world.rider(), world.rider()
    me = auth("resident", resident_id=rider.resident_id)
    body = {"product": TICKET, "idempotency_key": "x", "resident_id": other.resident_id}
    assert client.post("/api/v1/venues/tickets", json=body, headers=me).status_code == 403
    assert (
        client.post("/api/v1/venues/tickets", json=body, headers=auth("auditor")).status_code == 403
    )
    counter = client.post("/api/v1/venues/tickets", json=body, headers=auth("clerk"))
    assert counter.status_code == 201, counter.text
    assert world.balance(other) == 98_000 and world.balance(rider) == 100_000


def test_a_full_slot_is_a_409_and_nothing_is_charged(
    world: World, client: TestClient, auth: AuthHeaders
) -> None:
    (slot, _) = world.slots(capacity=1)
    first, second = world.rider(), world.rider()
    for rider, expected in ((first, 201), (second, 409)):
        answer = client.post(
            "/api/v1/venues/tickets",
            json={"product": TIMED, "idempotency_key": "s", "slot_id": slot},
            headers=auth("resident", resident_id=rider.resident_id),
        )
        assert answer.status_code == expected, answer.text
    assert answer.json()["type"].endswith("/slot-full")
    assert world.balance(second) == 100_000
    slots = client.get(f"/api/v1/venues/{MUSEUM}/slots?day=2025-03-10", headers=auth("clerk"))
    assert [(s["booked"], s["free"]) for s in slots.json()] == [(1, 0), (0, 1)]


def test_a_card_without_money_is_a_409_and_no_ticket_exists(
    world: World, client: TestClient, auth: AuthHeaders
) -> None:
    rider = world.rider(money=0)
    me = auth("resident", resident_id=rider.resident_id)
    answer = client.post(
        "/api/v1/venues/tickets", json={"product": TICKET, "idempotency_key": "broke"}, headers=me
    )
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("/insufficient-funds")
    assert client.get("/api/v1/venues/my/tickets", headers=me).json() == []


def test_staff_keep_the_catalogue(world: World, client: TestClient, auth: AuthHeaders) -> None:
    admin = auth("admin")
    made = client.post(
        "/api/v1/venues",
        json={
            "code": "qd-library",
            "name": "青岛市图书馆",
            "category": "library",
            "operator": OPERATOR,
            "district_code": "370212",
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    product = client.post(
        "/api/v1/venues/qd-library/products",
        json={
            "code": "qd-library-pass",
            "kind": "annual_pass",
            "name": "读者年卡",
            "price": "30.00",
            "validity_days": 365,
            "entry_limit": 200,
        },
        headers=admin,
    )
    assert product.status_code == 201, product.text
    assert product.json()["price"] == 3000
    gate = client.post(
        "/api/v1/venues/qd-library/gates", json={"terminal_no": "GATE-LIB-1"}, headers=admin
    )
    assert gate.status_code == 201 and len(gate.json()["private_key"]) == 64
    listed = client.get("/api/v1/venues?category=library", headers=auth("resident", resident_id=1))
    assert [v["code"] for v in listed.json()] == ["qd-library"]
    # a clerk reads but does not change the catalogue; a pass without its terms is refused
    by_clerk = client.post(
        "/api/v1/venues",
        json={"code": "qd-gym", "name": "体育馆", "category": "sports", "operator": OPERATOR},
        headers=auth("clerk"),
    )
    assert by_clerk.status_code == 403
    bad = client.post(
        "/api/v1/venues/qd-library/products",
        json={"code": "no-terms", "kind": "annual_pass", "name": "x", "price": "10"},
        headers=admin,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "validity_days"
    unknown = client.post(
        "/api/v1/venues",
        json={"code": "x-venue", "name": "x", "category": "zoo", "operator": OPERATOR},
        headers=admin,
    )
    assert unknown.status_code == 422
    entries = client.get(f"/api/v1/venues/{MUSEUM}/entries?day=2025-03-10", headers=auth("auditor"))
    assert entries.status_code == 200 and entries.json() == []


def test_the_quote_shows_the_concession(
    world: World, client: TestClient, auth: AuthHeaders
) -> None:
    import datetime as dt

    senior = world.rider(birth=dt.date(1962, 6, 1))
    quoted = client.get(
        f"/api/v1/venues/products/{TICKET}/quote",
        headers=auth("resident", resident_id=senior.resident_id),
    )
    assert quoted.status_code == 200, quoted.text
    assert (quoted.json()["amount"], quoted.json()["concession"]) == (1000, "age_60")
