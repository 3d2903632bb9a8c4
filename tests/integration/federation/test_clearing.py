"""Inter-city clearing between Qingdao (``node``) and Yantai (``yantai_node``): every payment on
both ledgers, a daily run that nets, signed statements compared line by line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Ykt
from tests.integration.federation.conftest import QINGDAO, YANTAI, League
from yikatong.api.app import create_app
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.federation import clearing
from yikatong.federation.dispatcher import dispatch_once
from yikatong.ledger import service as ledger
from yikatong.node import Node

# The dispatcher passes its HTTP timeout, which Starlette's TestClient ignores with a warning.
pytestmark = pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")


@pytest.fixture
def qingdao_client(node: Node, league: League) -> Iterator[TestClient]:
    yield TestClient(create_app(node=node))


def _pay(city: Node, issuer: str, ref: str, amount: int) -> None:
    with city.transaction() as session:
        clearing.record_acquired_payment(
            session,
            own_city=city.city_code,
            issuer_city=issuer,
            payment_ref=ref,
            amount=amount,
            card_ref=f"card-{ref}",
            scenario="transport.bus",
        )


def _balance(city: Node, code: str) -> int:
    with city.transaction() as session:
        return int(ledger.balance(session, ledger.get_account_by_code(session, code).id))


def _deliver(node: Node, yantai_node: Node, qingdao: TestClient, yantai: TestClient) -> None:
    assert dispatch_once(node, yantai).failed == 0
    assert dispatch_once(yantai_node, qingdao).failed == 0


def test_a_day_of_cross_city_payments_clears_to_the_fen(
    fixed_clock: clock.FixedClock,
    node: Node,
    yantai_node: Node,
    league: League,
    yantai_client: TestClient,
    qingdao_client: TestClient,
) -> None:
    day = clock.today()
    # Yantai residents ride Qingdao buses; a Qingdao resident visits a Yantai venue.
    for ref, amount in (("Q-1", 200), ("Q-2", 200), ("Q-3", 150)):
        _pay(node, YANTAI, ref, amount)
    for ref, amount in (("Y-1", 3000), ("Y-2", 1)):
        _pay(yantai_node, QINGDAO, ref, amount)
    _deliver(node, yantai_node, qingdao_client, yantai_client)
    # Recorded on both sides: Qingdao is owed 5.50 by Yantai and owes it 30.01.
    assert _balance(node, f"fed:clearing:{YANTAI}") == 3001 - 550
    assert _balance(yantai_node, f"fed:clearing:{QINGDAO}") == 550 - 3001

    fixed_clock.advance(days=1)
    with node.transaction() as session:
        ours = clearing.run_clearing(
            session, own_city=QINGDAO, counterparty=YANTAI, business_date=day
        )
    with yantai_node.transaction() as session:
        theirs = clearing.run_clearing(
            session, own_city=YANTAI, counterparty=QINGDAO, business_date=day
        )
    assert (ours.acquired_fen, ours.issued_fen, ours.net_fen, ours.lines) == (550, 3001, -2451, 5)
    assert theirs.net_fen == 2451
    _deliver(node, yantai_node, qingdao_client, yantai_client)

    # The day's position left the clearing accounts for settlement, which sum to zero.
    assert _balance(node, f"fed:clearing:{YANTAI}") == 0
    assert _balance(yantai_node, f"fed:clearing:{QINGDAO}") == 0
    q_settle = _balance(node, f"fed:settlement:{YANTAI}")
    y_settle = _balance(yantai_node, f"fed:settlement:{QINGDAO}")
    assert (q_settle, y_settle) == (2451, -2451)
    for city in (node, yantai_node):
        with city.transaction() as session:
            assert ledger.verify(session) == []
            (report,) = clearing.clearing_reports(session)
            assert (report.status, report.matched, report.mismatches) == ("balanced", 5, [])

    with node.transaction() as session, pytest.raises(Conflict):
        clearing.run_clearing(session, own_city=QINGDAO, counterparty=YANTAI, business_date=day)
    with node.transaction() as session, pytest.raises(InvalidInput) as today:
        clearing.run_clearing(
            session, own_city=QINGDAO, counterparty=YANTAI, business_date=clock.today()
        )
    assert today.value.field == "date"


def test_a_payment_missing_from_a_statement_is_reported_line_by_line(
    fixed_clock: clock.FixedClock,
    node: Node,
    yantai_node: Node,
    league: League,
    yantai_client: TestClient,
    qingdao_client: TestClient,
) -> None:
    day = clock.today()
    _pay(node, YANTAI, "Q-10", 400)
    _pay(yantai_node, QINGDAO, "Y-10", 700)
    assert dispatch_once(node, yantai_client).sent == 1
    # Yantai's payment has not reached Qingdao when Qingdao runs the day (a late cut-off).
    fixed_clock.advance(days=1)
    with node.transaction() as session:
        run = clearing.run_clearing(
            session, own_city=QINGDAO, counterparty=YANTAI, business_date=day
        )
    assert (run.net_fen, run.lines) == (400, 1)
    assert dispatch_once(node, yantai_client).sent == 1
    with yantai_node.transaction() as session:
        (report,) = clearing.clearing_reports(session)
        assert report.status == "mismatch"
        assert report.matched == 1
        assert report.mismatches == [
            {
                "payment_ref": "Y-10",
                "issue": "missing-at-sender",
                "ours": {
                    "payment_ref": "Y-10",
                    "acquirer": YANTAI,
                    "issuer": QINGDAO,
                    "amount_fen": 700,
                },
            }
        ]
    assert (report.their_net_fen, report.our_net_fen) == (400, 700 - 400)


def test_a_payment_must_be_positive_and_cross_city(node: Node, league: League) -> None:
    with node.transaction() as session, pytest.raises(InvalidInput) as zero:
        clearing.record_acquired_payment(
            session, own_city=QINGDAO, issuer_city=YANTAI, payment_ref="Z", amount=0, card_ref=None
        )
    assert zero.value.field == "amount"
    with node.transaction() as session, pytest.raises(InvalidInput) as own:
        clearing.record_acquired_payment(
            session, own_city=QINGDAO, issuer_city=QINGDAO, payment_ref="Z", amount=1, card_ref=None
        )
    assert own.value.field == "city"


def test_the_same_payment_twice_is_recorded_once(node: Node, league: League) -> None:
    _pay(node, YANTAI, "Q-20", 250)
    _pay(node, YANTAI, "Q-20", 250)
    assert _balance(node, f"fed:clearing:{YANTAI}") == -250


def test_the_daily_run_from_the_command_line(
    fixed_clock: clock.FixedClock, node: Node, league: League, ykt: Ykt
) -> None:
    day = clock.today()
    _pay(node, YANTAI, "Q-30", 350)
    _pay(node, YANTAI, "Q-31", 200)
    fixed_clock.advance(days=1)
    ran = ykt("federation", "clearing", "run", "--with", YANTAI, "--date", day.isoformat())
    assert ran.exit_code == 0, ran.output
    assert f"{day} with {YANTAI}: 2 line(s), {YANTAI} owes us 5.50" in ran.output
    assert _balance(node, f"fed:settlement:{YANTAI}") == -550
    again = ykt("federation", "clearing", "run", "--with", YANTAI, "--date", day.isoformat())
    assert again.exit_code != 0 and "already ran" in again.output
    bad = ykt("federation", "clearing", "run", "--with", YANTAI, "--date", "2025-02-30")
    assert bad.exit_code == 2 and "date" in bad.output
