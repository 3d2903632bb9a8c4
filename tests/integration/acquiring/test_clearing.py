"""Reversals, daily clearing per merchant, the clearing file and the reconciliation report."""

from __future__ import annotations

import csv
import datetime as dt
import io

from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders, Ykt
from tests.integration.acquiring._kit import Kit, send
from yikatong.acquiring import service
from yikatong.core import clock
from yikatong.ledger import service as ledger

PAY = "/api/v1/terminal/payments"
DAY = "2025-03-10"


def _sales(kit: Kit, client: TestClient) -> tuple[list[int], str]:
    kit.merchant("qd-shop", "shop")
    till = kit.device("SHOP-0001", "qd-shop")
    rider = kit.rider()
    kit.fund(rider, fin=10_000)
    ids = []
    for seq, amount in ((1, "10"), (2, "20.50"), (3, "5")):
        answer = send(
            client, till, PAY, {"terminal_seq": seq, "card_no": rider.card_no, "amount": amount}
        )
        ids.append(answer.json()["tap_id"])
    return ids, rider.card_no


def test_a_reversal_returns_the_money_and_cannot_be_repeated(
    kit: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    ids, card_no = _sales(kit, client)
    url = f"/api/v1/acquiring/taps/{ids[1]}/reversal"
    done = client.post(url, json={"reason": "wrong dish"}, headers=auth("clerk"))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "reversed"
    assert client.post(url, json={"reason": "again"}, headers=auth("clerk")).status_code == 409
    assert client.post(url, json={"reason": ""}, headers=auth("clerk")).status_code == 422
    assert client.post(url, json={"reason": "x"}, headers=auth("auditor")).status_code == 403
    with kit.node.transaction() as session:
        fin = service.card_account(session, card_no, "fin")
        assert ledger.balance(session, fin) == 10_000 - 1000 - 500


def test_clearing_nets_sales_and_reversals_into_one_settlement_transfer(
    kit: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    ids, _ = _sales(kit, client)
    with kit.node.transaction() as session:
        service.reverse_tap(session, ids[2], reason="refund")
    runs = client.post(f"/api/v1/acquiring/clearing/{DAY}", headers=auth("admin"))
    assert runs.status_code == 200, runs.text
    [run] = runs.json()
    assert (run["taps"], run["gross"], run["reversals"], run["net"]) == (3, 3550, 1, 3050)
    rerun = client.post(f"/api/v1/acquiring/clearing/{DAY}", headers=auth("admin")).json()
    assert rerun == runs.json()
    with kit.node.transaction() as session:
        merchant = service.get_merchant(session, "qd-shop")
        assert ledger.balance(session, merchant.settlement_account_id) == 3050
        assert ledger.balance(session, merchant.acquired_account_id) == 0
    text = client.get(f"/api/v1/acquiring/clearing/{DAY}/file", headers=auth("auditor")).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["entry"] for r in rows] == ["sale", "sale", "sale", "reversal", "total"]
    assert sum(int(r["amount_fen"]) for r in rows[:-1]) == int(rows[-1]["amount_fen"]) == 3050
    assert all("****" in r["card"] for r in rows[:-1])


def test_a_reversal_after_clearing_nets_against_the_next_day(
    kit: Kit, client: TestClient, fixed_clock: clock.FixedClock
) -> None:
    ids, _ = _sales(kit, client)
    with kit.node.transaction() as session:
        service.run_clearing(session, dt.date(2025, 3, 10))
    fixed_clock.advance(days=1)
    with kit.node.transaction() as session:
        service.reverse_tap(session, ids[0], reason="complaint")
        [run] = service.run_clearing(session, dt.date(2025, 3, 11))
        assert (run.taps, run.reversals, run.net) == (0, 1, -1000)
        merchant = service.get_merchant(session, "qd-shop")
        assert ledger.balance(session, merchant.settlement_account_id) == 3550 - 1000
        [row] = service.reconcile(session, dt.date(2025, 3, 11))
        assert row.balanced


def test_reconciliation_matches_uploads_to_clearing_and_to_the_ledger(
    kit: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    _sales(kit, client)
    before = client.get(f"/api/v1/acquiring/reconciliation/{DAY}", headers=auth("auditor"))
    [row] = before.json()
    assert (row["approved_amount"], row["awaiting_clearing"], row["cleared_amount"]) == (
        3550,
        3550,
        0,
    )
    assert row["outstanding_ledger"] == row["outstanding_expected"] == 3550
    assert row["balanced"]
    client.post(f"/api/v1/acquiring/clearing/{DAY}", headers=auth("admin"))
    [after] = client.get(f"/api/v1/acquiring/reconciliation/{DAY}", headers=auth("auditor")).json()
    assert (after["cleared_amount"], after["awaiting_clearing"], after["outstanding_ledger"]) == (
        3550,
        0,
        0,
    )
    assert after["balanced"]


def test_clearing_a_day_not_yet_begun_is_refused(
    kit: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    answer = client.post("/api/v1/acquiring/clearing/2025-03-11", headers=auth("admin"))
    assert answer.status_code == 422
    assert (
        client.post("/api/v1/acquiring/clearing/2025-13-01", headers=auth("admin")).status_code
        == 422
    )


def test_cli_runs_the_clearing_and_writes_the_file(
    kit: Kit, client: TestClient, ykt: Ykt, tmp_path: object
) -> None:
    _sales(kit, client)
    out = str(tmp_path) + "/out"
    result = ykt("clearing", "run", "--date", DAY, "--out", out)
    assert result.exit_code == 0, result.output
    assert "qd-shop" in result.output
    with open(f"{out}/clearing-{DAY}.csv", encoding="utf-8") as handle:
        assert handle.read().count("\n") == 5
    report = ykt("clearing", "reconcile", "--date", DAY)
    assert report.exit_code == 0, report.output
    assert ykt("clearing", "run", "--date", "10-03-2025").exit_code == 2
