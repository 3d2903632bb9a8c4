"""Offline taps uploaded in batches (脱机上传): duplicates, deny list at tap time, debts."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from tests.integration.acquiring._kit import Kit, send
from yikatong.acquiring import service
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.ledger import service as ledger

UPLOAD = "/api/v1/terminal/rides/offline"


def _at(minutes_ago: int) -> str:
    return (clock.now() - dt.timedelta(minutes=minutes_ago)).isoformat()


def test_a_reuploaded_batch_is_recognised_and_not_charged_twice(
    kit: Kit, client: TestClient
) -> None:
    kit.merchant("qd-bus", "bus")
    bus = kit.device("BUS-0026", "qd-bus", line="26")
    rider = kit.rider()
    kit.fund(rider, transport=1000)
    taps = [
        {"terminal_seq": 11, "card_no": rider.card_no, "tapped_at": _at(300)},
        {"terminal_seq": 12, "card_no": rider.card_no, "tapped_at": _at(120)},
    ]
    first = send(client, bus, UPLOAD, {"taps": taps})
    assert first.status_code == 200, first.text
    assert (first.json()["approved"], first.json()["duplicates"]) == (2, 0)
    again = send(
        client,
        bus,
        UPLOAD,
        {"taps": [*taps, {"terminal_seq": 13, "card_no": rider.card_no, "tapped_at": _at(10)}]},
    )
    assert (again.json()["approved"], again.json()["duplicates"]) == (1, 2)
    assert again.json()["duplicate_seqs"] == [11, 12]
    assert kit.transport(rider) == 1000 - 3 * 200  # bus line 26: 2 yuan a ride


def test_a_card_on_the_deny_list_at_tap_time_becomes_a_debt_not_a_loss(
    kit: Kit, client: TestClient, fixed_clock: clock.FixedClock
) -> None:
    kit.merchant("qd-bus", "bus")
    bus = kit.device("BUS-0002", "qd-bus", line="2")
    rider = kit.rider()
    kit.fund(rider, transport=1000)
    before_loss = _at(0)
    fixed_clock.advance(minutes=30)
    with kit.node.transaction() as session:
        cards_service.report_lost(session, rider.card_no, actor="clerk", reason="lost")
    fixed_clock.advance(minutes=30)
    after_loss = _at(5)
    with kit.node.transaction() as session:  # found again: the card works once more
        cards_service.restore_card(session, rider.card_no, actor="clerk", reason="found")
    fixed_clock.advance(hours=2)
    answer = send(
        client,
        bus,
        UPLOAD,
        {
            "taps": [
                {"terminal_seq": 1, "card_no": rider.card_no, "tapped_at": before_loss},
                {"terminal_seq": 2, "card_no": rider.card_no, "tapped_at": after_loss},
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    outcome = {
        t["terminal_seq"]: (t["status"], t["reason"], t["amount"]) for t in answer.json()["taps"]
    }
    assert outcome == {1: ("approved", "ok", 200), 2: ("debt", "denied-at-tap", 200)}
    assert kit.transport(rider) == 800
    with kit.node.transaction() as session:
        debts = service.card_debts(session, rider.card_no)
        assert [(d.terminal_seq, d.amount) for d in debts] == [(2, 200)]


def test_an_offline_ride_without_balance_is_owed_and_collected_at_the_next_top_up(
    kit: Kit, client: TestClient
) -> None:
    kit.merchant("qd-bus", "bus")
    bus = kit.device("BUS-0321", "qd-bus", line="321")
    rider = kit.rider()
    kit.fund(rider, transport=100, fin=1000)
    answer = send(
        client,
        bus,
        UPLOAD,
        {"taps": [{"terminal_seq": 1, "card_no": rider.card_no, "tapped_at": _at(60)}]},
    )
    assert answer.json()["debts"] == 1
    assert answer.json()["taps"][0]["reason"] == "insufficient-funds"
    assert kit.transport(rider) == 100
    kit.fund(rider, transport=500)
    assert kit.transport(rider) == 100 + 500 - 300
    with kit.node.transaction() as session:
        assert service.card_debts(session, rider.card_no) == []
        merchant = service.get_merchant(session, "qd-bus")
        assert ledger.balance(session, merchant.acquired_account_id) == 300
        assert ledger.trial_balance(session).balanced


def test_unknown_cards_and_bad_taps(kit: Kit, client: TestClient) -> None:
    kit.merchant("qd-bus", "bus")
    bus = kit.device("BUS-0001", "qd-bus", line="1")
    answer = send(
        client,
        bus,
        UPLOAD,
        {"taps": [{"terminal_seq": 1, "card_no": "000000000", "tapped_at": _at(5)}]},
    )
    assert answer.json()["rejected"] == 1
    assert answer.json()["taps"][0]["reason"] == "unknown-card"
    future = send(
        client,
        bus,
        UPLOAD,
        {"taps": [{"terminal_seq": 2, "card_no": "000000000", "tapped_at": _at(-60)}]},
    )
    assert future.status_code == 422
    assert future.json()["errors"][0]["field"] == "taps[0].tapped_at"
    stale = send(
        client,
        bus,
        UPLOAD,
        {"taps": [{"terminal_seq": 3, "card_no": "000000000", "tapped_at": _at(31 * 24 * 60)}]},
    )
    assert stale.status_code == 422
    empty = send(client, bus, UPLOAD, {"taps": []})
    assert empty.status_code == 422


def test_a_shop_terminal_cannot_upload_rides(kit: Kit, client: TestClient) -> None:
    kit.merchant("qd-shop", "shop")
    till = kit.device("SHOP-0001", "qd-shop")
    rider = kit.rider()
    answer = send(
        client,
        till,
        UPLOAD,
        {"taps": [{"terminal_seq": 1, "card_no": rider.card_no, "tapped_at": _at(5)}]},
    )
    assert answer.status_code == 409


def test_a_batch_is_priced_in_time_order_so_the_daily_cap_holds_within_it(
    kit: Kit, client: TestClient
) -> None:
    kit.merchant("qd-bus", "bus")
    bus = kit.device("BUS-0321", "qd-bus", line="321")
    rider = kit.rider()
    kit.fund(rider, transport=5000)
    # Six 3-yuan rides uploaded newest first; the policy caps a day at 15 yuan.
    taps = [
        {"terminal_seq": 100 + i, "card_no": rider.card_no, "tapped_at": _at(20 * i)}
        for i in range(6)
    ]
    answer = send(client, bus, UPLOAD, {"taps": taps})
    assert answer.status_code == 200, answer.text
    charged = [(t["terminal_seq"], t["amount"]) for t in answer.json()["taps"]]
    assert charged == [(105, 300), (104, 300), (103, 300), (102, 300), (101, 300), (100, 0)]
    assert kit.transport(rider) == 5000 - 1500
