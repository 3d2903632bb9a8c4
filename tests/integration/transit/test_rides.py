"""Rides at bus and metro terminals priced by the fare policy, the rider's history and purse."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders, Ykt
from tests.integration.acquiring._kit import Device, Kit, send
from yikatong.core import clock

RIDE = "/api/v1/terminal/rides"


def _network(kit: Kit) -> tuple[Device, Device]:
    kit.merchant("qd-bus", "bus", "青岛公交")
    kit.merchant("qd-metro", "metro", "青岛地铁")
    return kit.device("BUS-0321", "qd-bus", line="321"), kit.device("GATE-0001", "qd-metro")


def test_a_bus_tap_then_a_metro_transfer_are_priced_and_charged(
    kit: Kit, client: TestClient, fixed_clock: clock.FixedClock
) -> None:
    bus, gate = _network(kit)
    rider = kit.rider()
    kit.fund(rider, transport=2000)
    first = send(client, bus, RIDE, {"terminal_seq": 1, "card_no": rider.card_no})
    assert (first.json()["decision"], first.json()["amount"]) == ("approve", 300)
    fixed_clock.advance(minutes=30)
    second = send(
        client,
        gate,
        RIDE,
        {
            "terminal_seq": 1,
            "card_no": rider.card_no,
            "line": "2",
            "entry": "zhiquan-road",
            "exit": "taidong",
        },
    )
    assert second.json()["amount"] == 200 - 100  # transfer discount
    assert "transfer" in " ".join(second.json()["details"]["steps"])
    assert kit.transport(rider) == 2000 - 300 - 100


def test_seniors_ride_free_or_at_half_fare_by_card_category(kit: Kit, client: TestClient) -> None:
    bus, _ = _network(kit)
    seventy = kit.rider(birth=dt.date(1950, 1, 1))
    sixty_five = kit.rider(birth=dt.date(1960, 1, 1))
    kit.fund(sixty_five, transport=500)
    free = send(client, bus, RIDE, {"terminal_seq": 1, "card_no": seventy.card_no})
    assert (free.json()["decision"], free.json()["amount"]) == ("approve", 0)
    assert free.json()["details"]["category"] == "senior_70"
    half = send(client, bus, RIDE, {"terminal_seq": 2, "card_no": sixty_five.card_no})
    assert half.json()["amount"] == 150


def test_an_empty_purse_is_declined_and_a_bad_station_is_declined_with_its_reason(
    kit: Kit, client: TestClient
) -> None:
    bus, gate = _network(kit)
    rider = kit.rider()
    empty = send(client, bus, RIDE, {"terminal_seq": 1, "card_no": rider.card_no})
    assert (empty.json()["decision"], empty.json()["reason"]) == ("decline", "insufficient-funds")
    kit.fund(rider, transport=500)
    bad = send(
        client,
        gate,
        RIDE,
        {
            "terminal_seq": 1,
            "card_no": rider.card_no,
            "line": "2",
            "entry": "zhiquan-road",
            "exit": "mars",
        },
    )
    assert (bad.json()["decision"], bad.json()["reason"]) == ("decline", "invalid-route")
    assert "mars" in bad.json()["details"]["error"]
    assert kit.transport(rider) == 500


def test_a_resident_sees_their_own_rides_only(
    kit: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    bus, _ = _network(kit)
    me, other = kit.rider(), kit.rider()
    kit.fund(me, transport=1000)
    kit.fund(other, transport=1000)
    send(client, bus, RIDE, {"terminal_seq": 1, "card_no": me.card_no})
    send(client, bus, RIDE, {"terminal_seq": 2, "card_no": other.card_no})
    mine = client.get("/api/v1/transit/rides", headers=auth("resident", resident_id=me.resident_id))
    assert mine.status_code == 200
    assert [(r["operator"], r["line"], r["fare"]) for r in mine.json()] == [
        ("青岛公交", "321", 300)
    ]
    peek = client.get(
        f"/api/v1/transit/rides?resident_id={other.resident_id}",
        headers=auth("resident", resident_id=me.resident_id),
    )
    assert peek.status_code == 403
    staff = client.get(
        f"/api/v1/transit/rides?resident_id={other.resident_id}", headers=auth("clerk")
    )
    assert len(staff.json()) == 1
    assert client.get("/api/v1/transit/rides", headers=auth("clerk")).status_code == 422
    assert client.get("/api/v1/transit/rides").status_code == 401


def test_a_resident_tops_up_the_purse_from_the_financial_account_once_per_key(
    kit: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    rider = kit.rider()
    kit.fund(rider, fin=10_000)
    me = auth("resident", resident_id=rider.resident_id)
    body = {"amount": "50", "idempotency_key": "app-topup-1"}
    first = client.post("/api/v1/transit/top-ups", json=body, headers=me)
    assert first.status_code == 201, first.text
    assert (first.json()["amount"], first.json()["balance"]) == (5000, 5000)
    again = client.post("/api/v1/transit/top-ups", json=body, headers=me)
    assert again.json()["id"] == first.json()["id"]
    assert client.get("/api/v1/transit/purse", headers=me).json()["balance"] == 5000
    other_amount = client.post("/api/v1/transit/top-ups", json={**body, "amount": "60"}, headers=me)
    assert other_amount.status_code == 409
    too_much = client.post(
        "/api/v1/transit/top-ups", json={"amount": "60", "idempotency_key": "k2"}, headers=me
    )
    assert too_much.status_code == 409
    assert too_much.json()["reason"] == "insufficient-funds"
    bad = client.post(
        "/api/v1/transit/top-ups", json={"amount": "abc", "idempotency_key": "k3"}, headers=me
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "amount"


def test_fare_quotes_over_the_api_and_the_cli(
    kit: Kit, client: TestClient, auth: AuthHeaders, ykt: Ykt
) -> None:
    quote = client.get(
        "/api/v1/transit/fares/quote",
        params={
            "mode": "metro",
            "line": "11",
            "entry": "miaoling-road",
            "exit": "aoshan-bay",
            "category": "senior_60",
        },
        headers=auth("auditor"),
    )
    assert quote.status_code == 200, quote.text
    assert (quote.json()["full_fare"], quote.json()["fare"]) == (600, 300)
    bad = client.get(
        "/api/v1/transit/fares/quote", params={"mode": "tram", "line": "1"}, headers=auth("clerk")
    )
    assert bad.status_code == 422
    cli = ykt("fares", "quote", "--mode", "bus", "--line", "26", "--demo")
    assert cli.exit_code == 0, cli.output
    assert "fare 2.00" in cli.output
    refused = ykt("fares", "quote", "--mode", "bus", "--line", "26")
    assert refused.exit_code == 7  # illustrative fare values: demo only
