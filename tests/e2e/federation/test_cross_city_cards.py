"""A Jinan resident's card at a Qingdao terminal, between two real nodes: the catalogue, online
authorisation, e-SSC, the deny list, stand-in while Jinan is killed, and both ledgers after."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from tests.e2e.federation.conftest import JINAN, QINGDAO, City, run_ykt, wait_until
from yikatong.cards import service as cards_service
from yikatong.core.ids import make_resident_id
from yikatong.essc import service as essc_service
from yikatong.registry import service as registry_service

# Two more servers and a kill -9: ~40 s. The default run covers the same over real HTTP in
# test_resilience.py (online, stand-in, offline) and tests/integration/demo (catalogue).
pytestmark = pytest.mark.slow


def test_hello_travels_back(two_cities: dict[str, City]) -> None:
    qingdao, jinan = two_cities[QINGDAO], two_cities[JINAN]
    hello = run_ykt(jinan.env, "federation", "hello", "--to", QINGDAO)
    assert hello.returncode == 0, hello.stderr

    def greeted() -> bool:
        peers = httpx.get(
            f"{qingdao.url}/api/v1/federation/status", headers=qingdao.admin_headers()
        ).json()["peers"]
        return any(p["city_code"] == JINAN and p["name"] == "济南" for p in peers)

    wait_until(greeted, timeout=30, what="Qingdao to record Jinan's hello")


def _jinan_holder(jinan: City, n: int) -> tuple[int, str, str]:
    """A Jinan resident with an active card and an e-SSC PIN, made on Jinan's database."""
    with jinan.acting(), jinan.node.transaction() as session:
        resident = registry_service.enrol_resident(
            session,
            registry_service.ResidentInput(
                id_number=make_resident_id("370102", dt.date(1990, 5, 4), n),
                name="李建国",
                district_code="370102",
            ),
            actor="e2e-clerk",
        )
        card = cards_service.apply_for_card(session, resident.id, actor="e2e-clerk")
    with jinan.acting(), jinan.node.transaction() as session:
        cards_service.issue_card(session, card.card_no, actor="e2e-clerk", reason="made")
        cards_service.activate_card(session, card.card_no, actor="e2e-clerk", reason="received")
        account = essc_service.bind_account(session, resident.id, f"jn-{n}", actor="e2e-clerk")
        essc_service.set_pin(session, account.id, "135790")
    return resident.id, card.card_no, card.card_ref


def test_a_jinan_card_at_a_qingdao_terminal_online_then_stand_in(
    two_cities: dict[str, City],
) -> None:
    qingdao, jinan = two_cities[QINGDAO], two_cities[JINAN]
    terminal = qingdao.headers("terminal")
    resident, _, card_ref = _jinan_holder(jinan, 11)
    _, lost_no, lost_ref = _jinan_holder(jinan, 13)
    url = f"{qingdao.url}/api/v1/federation/authorisations"

    published = run_ykt(qingdao.env, "federation", "catalogue", "publish")
    assert published.returncode == 0, published.stderr
    # Qingdao's catalogue reaches Jinan through the outbox and the inbox.
    wait_until(
        lambda: len(httpx.get(f"{jinan.url}/api/v1/federation/catalogue/{QINGDAO}").json()) == 26,
        timeout=30,
        what="Jinan to hold Qingdao's catalogue",
    )
    check = httpx.get(
        f"{jinan.url}/api/v1/federation/catalogue/{QINGDAO}/check",
        params={"scenario": "benefits.subsidy-payout", "card_city": JINAN},
    ).json()
    assert check["accepted"] is False

    ride = {"issuer_city": JINAN, "instrument": "card", "card_ref": card_ref, "amount": "2.00"}
    online = httpx.post(url, json={**ride, "scenario": "transport.bus"}, headers=terminal)
    assert online.status_code == 200, online.text
    assert online.json() | {"id": 0, "request_id": None} == {
        "terms": {"elderly_free_from_age": 70},
        "id": 0,
        "decision": "approved",
        "mode": "online",
        "reason": "card-active",
        "issuer_city": JINAN,
        "card_ref": card_ref,
        "amount": "2.00",
        "request_id": None,
    }
    with jinan.acting(), jinan.node.transaction() as session:
        code = essc_service.issue_qr(session, resident, "L2", pin="135790").text
    paid = httpx.post(
        url,
        json={"issuer_city": JINAN, "instrument": "essc", "qr": code, "amount": "35.50"},
        headers=terminal,
    ).json()
    assert (paid["decision"], paid["reason"], paid["card_ref"]) == ("approved", "essc-L2", card_ref)

    with jinan.acting(), jinan.node.transaction() as session:
        cards_service.report_lost(session, lost_no, actor="e2e-clerk", reason="lost")
    synced = httpx.post(
        f"{qingdao.url}/api/v1/federation/deny-lists/{JINAN}/sync",
        headers=qingdao.admin_headers(),
    )
    assert synced.status_code == 200 and synced.json()["fetched"] >= 1

    jinan.kill9()
    try:
        stand_in = httpx.post(url, json=ride, headers=terminal).json()
        assert (stand_in["decision"], stand_in["mode"]) == ("approved", "stand-in")
        lost = httpx.post(url, json={**ride, "card_ref": lost_ref}, headers=terminal).json()
        assert (lost["decision"], lost["mode"]) == ("declined", "stand-in")
        assert lost["reason"].startswith("denied")
        bad = httpx.post(url, json={**ride, "amount": "2.001"}, headers=terminal)
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "amount"
    finally:
        jinan.start()

    # Each approved payment is on both ledgers once Qingdao's outbox has reached Jinan:
    # 2.00 online + 35.50 by e-SSC + 2.00 in stand-in = 39.50 yuan Jinan owes Qingdao.
    wait_until(lambda: qingdao.undelivered(JINAN) == 0, timeout=60, what="the clearing backlog")
    assert qingdao.ledger_balance(f"fed:clearing:{JINAN}") == -3950
    assert jinan.ledger_balance(f"fed:clearing:{QINGDAO}") == 3950
