"""Crashes and outages between two real nodes (the default run; the three-city variants in
test_three_cities.py are marked slow): kill -9 of the receiver and of the sender mid-stream lose
nothing and apply nothing twice, and the clearing that follows balances to the fen on both
ledgers; while a node is down its cards are accepted by the stand-in rule and offline from its
deny list and its certificates by their seal alone, and when it is back it catches up in order,
even with messages queued days before."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import select

from tests.e2e.federation.conftest import JINAN, QINGDAO, City, wait_until
from yikatong.cards import service as cards
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.core.outbox import OutboxMessage
from yikatong.documents import service as documents
from yikatong.federation import clearing
from yikatong.registry import service as registry

RUNS = "/api/v1/federation/clearing/runs"
REPORTS = "/api/v1/federation/clearing/reports"


def test_kill9_of_receiver_then_sender_mid_stream_and_clearing_still_balances(
    two_cities: dict[str, City],
) -> None:
    qingdao, jinan = two_cities[QINGDAO], two_cities[JINAN]
    texts = [f"青岛→济南 {i}" for i in range(1, 301)]
    # Yesterday's 60 rides of Jinan cards on Qingdao buses (1.00–1.59 yuan), and 7 of Qingdao
    # cards on Jinan's metro (3.00 yuan): what the clearing below nets.
    fares = [100 + i for i in range(60)]
    yesterday_noon = clock.now() - dt.timedelta(days=1)
    with clock.clock_override(clock.FixedClock(yesterday_noon)):
        day = clock.today()
        with qingdao.node.transaction() as session:
            for i, fare in enumerate(fares):
                clearing.record_acquired_payment(
                    session, own_city=QINGDAO, issuer_city=JINAN, payment_ref=f"QD-K9-{i}",
                    amount=fare, card_ref=f"jn-card-{i % 9}", scenario="transport.bus",
                )  # fmt: skip
        with jinan.node.transaction() as session:
            for i in range(7):
                clearing.record_acquired_payment(
                    session, own_city=JINAN, issuer_city=QINGDAO, payment_ref=f"JN-K9-{i}",
                    amount=300, card_ref=f"qd-card-{i}", scenario="transport.metro",
                )  # fmt: skip
    qingdao.queue_notes(JINAN, "kill9", texts)

    def applied() -> int:
        return len(jinan.applied_notes(QINGDAO, "kill9"))

    wait_until(lambda: applied() >= 20, timeout=60, what="Jinan to start applying")
    jinan.kill9()
    at_receiver_crash = applied()
    assert at_receiver_crash < len(texts), "the receiver's crash came too late to prove anything"
    jinan.start()

    wait_until(
        lambda: applied() >= at_receiver_crash + 20, timeout=120, what="the stream to resume"
    )
    qingdao.kill9()
    assert applied() < len(texts), "the sender's crash came too late to prove anything"
    qingdao.start()

    wait_until(lambda: applied() == len(texts), timeout=180, what="every note after both crashes")
    # Once each, in order: a message resent after a lost acknowledgement was not applied again.
    assert jinan.applied_notes(QINGDAO, "kill9") == list(enumerate(texts, start=1))
    wait_until(
        lambda: qingdao.undelivered(JINAN) == 0 and jinan.undelivered(QINGDAO) == 0,
        timeout=180,
        what="both outboxes to be acknowledged",
    )
    owed = sum(fares) - 7 * 300
    assert qingdao.ledger_balance(f"fed:clearing:{JINAN}") == -owed
    assert jinan.ledger_balance(f"fed:clearing:{QINGDAO}") == owed

    # The day's clearing on both nodes; each sends its signed statement to the other.
    for city, other in ((qingdao, JINAN), (jinan, QINGDAO)):
        run = httpx.post(
            f"{city.url}{RUNS}",
            json={"counterparty": other, "business_date": day.isoformat()},
            headers=city.admin_headers(),
        )
        assert run.status_code == 200, run.text
        assert run.json()["lines"] == 67

    def report(city: City) -> dict[str, object] | None:
        rows = httpx.get(f"{city.url}{REPORTS}", headers=city.admin_headers()).json()
        return next((r for r in rows if r["business_date"] == day.isoformat()), None)

    wait_until(
        lambda: report(qingdao) is not None and report(jinan) is not None,
        timeout=120,
        what="both statements to arrive",
    )
    for city, net in ((qingdao, owed), (jinan, -owed)):
        got = report(city)
        assert got is not None
        assert (got["status"], got["matched"], got["mismatches"]) == ("balanced", 67, [])
        assert (got["our_net_fen"], got["their_net_fen"]) == (net, -net)
    # The settlement accounts of the pair sum to zero to the fen; clearing is emptied.
    assert qingdao.ledger_balance(f"fed:settlement:{JINAN}") == -owed
    assert jinan.ledger_balance(f"fed:settlement:{QINGDAO}") == owed
    assert qingdao.ledger_balance(f"fed:clearing:{JINAN}") == 0
    assert jinan.ledger_balance(f"fed:clearing:{QINGDAO}") == 0


def _jinan_card(jinan: City, n: int, *, lost: bool = False) -> str:
    """A Jinan resident's active card (or one reported lost), made on Jinan's database."""
    with jinan.acting(), jinan.node.transaction() as session:
        resident = registry.enrol_resident(
            session,
            registry.ResidentInput(
                id_number=make_resident_id("370103", dt.date(1985, 2, 3), n),
                name="刘建华",
                district_code="370103",
            ),
            actor="e2e-clerk",
        )
        card = cards.apply_for_card(session, resident.id, actor="e2e-clerk")
        cards.issue_card(session, card.card_no, actor="e2e-clerk", reason="made")
        cards.activate_card(session, card.card_no, actor="e2e-clerk", reason="received")
        if lost:
            cards.report_lost(session, card.card_no, actor="e2e-clerk", reason="lost")
        return card.card_ref


def _jinan_certificate(jinan: City) -> bytes:
    """A proof of insurance (参保证明) issued by Jinan for one of its residents."""
    with jinan.acting(), jinan.node.transaction() as session:
        resident = registry.enrol_resident(
            session,
            registry.ResidentInput(
                id_number=make_resident_id("370102", dt.date(1990, 1, 20), 733),
                name="周子涵",
                district_code="370102",
            ),
            actor="e2e-clerk",
        )
        issued = documents.issue_document(
            session, resident.id, "proof", actor="e2e-clerk", role="clerk"
        )
        return issued.pdf


def test_a_node_down_for_a_while_is_stood_in_for_and_catches_up_in_order(
    two_cities: dict[str, City],
) -> None:
    qingdao, jinan = two_cities[QINGDAO], two_cities[JINAN]
    good, lost = _jinan_card(jinan, 41), _jinan_card(jinan, 43, lost=True)
    terminal = qingdao.headers("terminal")
    authorise = f"{qingdao.url}/api/v1/federation/authorisations"
    offline = f"{qingdao.url}/api/v1/federation/offline-acceptances"
    ride = {"issuer_city": JINAN, "instrument": "card", "card_ref": good, "amount": "2.00"}

    online = httpx.post(authorise, json=ride, headers=terminal).json()
    assert (online["decision"], online["mode"], online["reason"]) == (
        "approved",
        "online",
        "card-active",
    )
    refused = httpx.post(authorise, json={**ride, "card_ref": lost}, headers=terminal).json()
    # Reported lost by phone: suspended (临时挂失) until confirmed, on the deny list at once.
    assert (refused["decision"], refused["mode"], refused["reason"]) == (
        "declined",
        "online",
        "card-suspended",
    )
    synced = httpx.post(
        f"{qingdao.url}/api/v1/federation/deny-lists/{JINAN}/sync",
        headers=qingdao.admin_headers(),
    )
    assert synced.status_code == 200 and synced.json()["fetched"] >= 1
    wait_until(lambda: qingdao.undelivered(JINAN) == 0, timeout=60, what="the online fare")
    before = jinan.ledger_balance(f"fed:clearing:{QINGDAO}")
    certificate = _jinan_certificate(jinan)

    jinan.kill9()
    # Jinan does not answer within the policy's 1.5 s: the stand-in rule decides from Jinan's
    # deny list as last fetched; an offline terminal decides from it without asking at all.
    stand_in = httpx.post(authorise, json=ride, headers=terminal).json()
    assert (stand_in["decision"], stand_in["mode"]) == ("approved", "stand-in")
    denied = httpx.post(authorise, json={**ride, "card_ref": lost}, headers=terminal).json()
    assert (denied["decision"], denied["mode"]) == ("declined", "stand-in")
    assert denied["reason"].startswith("denied")
    for card_ref, decision in ((good, "approved"), (lost, "declined")):
        taken = httpx.post(offline, json={**ride, "card_ref": card_ref}, headers=terminal).json()
        assert (taken["decision"], taken["mode"]) == (decision, "offline")
    # A Jinan certificate still verifies in Qingdao by Jinan's key, saying the register was not
    # asked (Jinan's answer is what a revocation would need).
    verified = httpx.post(
        f"{qingdao.url}/api/v1/documents/verify",
        files={"file": ("proof.pdf", certificate, "application/pdf")},
        timeout=30,
    )
    assert verified.status_code == 200, verified.text
    assert (verified.json()["registered"], verified.json()["seal"]["city_code"]) == (False, JINAN)
    assert verified.json()["note"].startswith(f"the register of city {JINAN} was not checked")

    # Queued two days ago (beyond the 24 h acceptance window): every delivery attempt is signed
    # afresh, so a long outage does not make the backlog expire.
    with clock.clock_override(clock.FixedClock(clock.now() - dt.timedelta(days=2))):
        qingdao.queue_notes(JINAN, "while-down", [f"两天前 {i}" for i in range(1, 6)])
    qingdao.queue_notes(JINAN, "while-down", [f"今天 {i}" for i in range(6, 31)])

    def retrying() -> bool:
        with qingdao.node.transaction() as session:
            head = session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.receiver == JINAN,
                    OutboxMessage.stream == "while-down",
                    OutboxMessage.seq == 1,
                )
            ).one()
            return head.attempts >= 3 and head.last_error is not None

    wait_until(retrying, timeout=30, what="Qingdao to fail and back off")
    jinan.start()
    wait_until(lambda: qingdao.undelivered(JINAN) == 0, timeout=180, what="the backlog")
    expected = [(i, f"两天前 {i}") for i in range(1, 6)] + [(i, f"今天 {i}") for i in range(6, 31)]
    assert jinan.applied_notes(QINGDAO, "while-down") == expected
    # The fares taken in stand-in and offline reached Jinan's ledger with the backlog.
    assert jinan.ledger_balance(f"fed:clearing:{QINGDAO}") == before + 2 * 200
