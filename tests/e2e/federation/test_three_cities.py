"""Three real nodes (Qingdao, Jinan, Zhengzhou): crashes and outages lose nothing, apply nothing
twice and keep each stream's order."""

from __future__ import annotations

import time

import pytest

from tests.e2e.federation.conftest import JINAN, QINGDAO, ZHENGZHOU, City, wait_until
from yikatong.core import clock
from yikatong.federation import clearing

# ~50 s with three servers; test_resilience.py runs the same on two nodes in the default run.
pytestmark = pytest.mark.slow


def test_kill9_of_the_receiver_mid_stream_loses_nothing_and_applies_nothing_twice(
    three_cities: dict[str, City],
) -> None:
    qingdao, jinan, zhengzhou = (three_cities[c] for c in (QINGDAO, JINAN, ZHENGZHOU))
    from_qingdao = [f"青岛 burst {i}" for i in range(1, 301)]
    from_zhengzhou = [f"郑州 burst {i}" for i in range(1, 101)]
    qingdao.queue_notes(JINAN, "burst", from_qingdao)
    zhengzhou.queue_notes(JINAN, "burst", from_zhengzhou)
    # 120 bus rides of Jinan cards in Qingdao (1.00–2.19 yuan) on the clearing stream.
    fares = [100 + i for i in range(120)]
    with qingdao.node.transaction() as session:
        for i, fare in enumerate(fares):
            clearing.record_acquired_payment(
                session,
                own_city=QINGDAO,
                issuer_city=JINAN,
                payment_ref=f"QD-RIDE-{i}",
                amount=fare,
                card_ref=f"jn-card-{i % 7}",
                scenario="transport.bus",
            )

    wait_until(
        lambda: len(jinan.applied_notes(QINGDAO, "burst")) >= 20,
        timeout=60,
        what="Jinan to start applying the burst",
    )
    jinan.kill9()
    applied_at_crash = len(jinan.applied_notes(QINGDAO, "burst"))
    assert applied_at_crash < len(from_qingdao), "the crash came too late to prove anything"
    time.sleep(1.0)  # both senders fail and back off while Jinan is down
    jinan.start()

    def all_in() -> bool:
        got_qingdao = len(jinan.applied_notes(QINGDAO, "burst"))
        got_zhengzhou = len(jinan.applied_notes(ZHENGZHOU, "burst"))
        return got_qingdao == len(from_qingdao) and got_zhengzhou == len(from_zhengzhou)

    wait_until(all_in, timeout=120, what="Jinan to apply both bursts after the restart")
    assert jinan.applied_notes(QINGDAO, "burst") == list(enumerate(from_qingdao, start=1))
    assert jinan.applied_notes(ZHENGZHOU, "burst") == list(enumerate(from_zhengzhou, start=1))
    wait_until(
        lambda: qingdao.undelivered(JINAN) == 0 and zhengzhou.undelivered(JINAN) == 0,
        timeout=60,
        what="both outboxes to be acknowledged",
    )
    # Clearing balances to the fen on both ledgers: every ride recorded once on each side.
    assert jinan.ledger_balance(f"fed:clearing:{QINGDAO}") == sum(fares)
    assert qingdao.ledger_balance(f"fed:clearing:{JINAN}") == -sum(fares)
    with jinan.node.transaction() as session:
        lines = clearing.position(session, QINGDAO, clock.today()).lines
        assert sorted(line.payment_ref for line in lines) == sorted(
            f"QD-RIDE-{i}" for i in range(120)
        )


def test_a_node_down_for_a_while_catches_up_in_order(three_cities: dict[str, City]) -> None:
    qingdao, jinan, zhengzhou = (three_cities[c] for c in (QINGDAO, JINAN, ZHENGZHOU))
    zhengzhou.kill9()
    qingdao.queue_notes(ZHENGZHOU, "while-down", [f"青岛 {i}" for i in range(1, 26)])
    jinan.queue_notes(ZHENGZHOU, "while-down", [f"济南 {i}" for i in range(1, 11)])

    def retrying(city: City) -> bool:
        from sqlalchemy import select

        from yikatong.core.outbox import OutboxMessage

        with city.node.transaction() as session:
            head = session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.receiver == ZHENGZHOU, OutboxMessage.seq == 1
                )
            ).first()
            return head is not None and head.attempts >= 2 and head.last_error is not None

    wait_until(lambda: retrying(qingdao) and retrying(jinan), timeout=30, what="failed retries")
    zhengzhou.start()
    wait_until(
        lambda: qingdao.undelivered(ZHENGZHOU) == 0 and jinan.undelivered(ZHENGZHOU) == 0,
        timeout=60,
        what="the backlog to reach Zhengzhou",
    )
    assert zhengzhou.applied_notes(QINGDAO, "while-down") == [
        (i, f"青岛 {i}") for i in range(1, 26)
    ]
    assert zhengzhou.applied_notes(JINAN, "while-down") == [(i, f"济南 {i}") for i in range(1, 11)]
