"""Staff API and ``ykt transfer``: the same rules over HTTP and the command line; bad input is a
4xx problem (or an exit code) and changes nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import AuthHeaders, Ykt
from tests.integration.pensions._kit import YANTAI, beijing, enrol, person_id
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.node import Node
from yikatong.pensions import service
from yikatong.pensions.models import PensionContribution, PensionTransfer

ID = person_id(dt.date(1988, 2, 3), 31)
BASE = "/api/v1/pension-transfers"


def _count(node: Node, table: type) -> int:
    with node.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_a_clerk_runs_a_case_over_http(
    node: Node, client: TestClient, auth: AuthHeaders, fixed_clock: clock.FixedClock
) -> None:
    clerk = auth("clerk")
    with node.transaction() as session:
        person = enrol(session, ID)
    paid = client.post(
        f"{BASE}/contributions",
        headers=clerk,
        json={"resident_id": person, "year": 2024, "months": 12, "monthly_base": "6000.00"},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["credited"] == 576000  # 8 % of 72 000 yuan
    opened = client.post(
        BASE,
        headers=clerk,
        json={"resident_id": person, "role": "old_city", "other_city_code": YANTAI},
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["step"], case["due_on"], case["ours"], case["working_days_left"]) == (
        "certificate",
        "2025-03-31",
        True,
        15,
    )
    advanced = client.post(f"{BASE}/{case['id']}/advance", headers=clerk, json={})
    assert advanced.status_code == 200, advanced.text
    assert (advanced.json()["pooled"], advanced.json()["individual_account"]) == (864000, 576000)
    assert advanced.json()["owing_city"] == YANTAI
    # the contact letter is Yantai's to send
    waiting = client.post(f"{BASE}/{case['id']}/advance", headers=clerk, json={})
    assert waiting.status_code == 409
    assert waiting.json()["type"].endswith("/conflict")
    fixed_clock.set(beijing(dt.date(2025, 4, 2)))
    clerk = auth("clerk")  # a fresh token three weeks later
    overdue = client.get(BASE, headers=auth("auditor"), params={"overdue": "true"})
    assert overdue.status_code == 200
    assert [r["alert"] for r in overdue.json()] == [
        "联系函 of city 370600 was due 2025-03-31: 2 working day(s) overdue"
    ]
    packet = client.post(f"{BASE}/packets/export", headers=clerk, params={"receiver": YANTAI})
    assert packet.status_code == 200 and len(packet.json()["cases"]) == 1
    # this city's own packet is addressed to Yantai: refused here
    refused = client.post(f"{BASE}/packets/import", headers=clerk, json=packet.json())
    assert (refused.status_code, refused.json()["reason"]) == (422, "misrouted")


def test_bad_requests_are_4xx_and_change_nothing(
    node: Node, client: TestClient, auth: AuthHeaders, fixed_clock: clock.FixedClock
) -> None:
    clerk = auth("clerk")
    with node.transaction() as session:
        person = enrol(session, ID)
    bad_bodies = [
        {"resident_id": person, "year": 2024, "months": 13, "monthly_base": "6000"},
        {"resident_id": person, "year": 2024, "months": 12, "monthly_base": "6000.001"},
        {"resident_id": person, "year": 2024, "months": 12, "monthly_base": "0"},
        {"resident_id": person, "year": 2030, "months": 12, "monthly_base": "6000"},
    ]
    for body in bad_bodies:
        response = client.post(f"{BASE}/contributions", headers=clerk, json=body)
        assert response.status_code == 422, (body, response.text)
    missing = client.post(
        f"{BASE}/contributions",
        headers=clerk,
        json={"resident_id": 999, "year": 2024, "months": 12, "monthly_base": "6000"},
    )
    assert missing.status_code == 404
    assert _count(node, PensionContribution) == 0
    for body in (
        {"resident_id": person, "role": "old_city", "other_city_code": YANTAI},  # nothing paid here
        {"resident_id": person, "role": "sideways", "other_city_code": YANTAI},
        {"resident_id": person, "role": "new_city", "other_city_code": "370200"},
        {"resident_id": person, "role": "new_city", "other_city_code": "3706"},
    ):
        response = client.post(BASE, headers=clerk, json=body)
        assert response.status_code in (409, 422), (body, response.text)
    assert (
        client.post(
            BASE,
            headers=auth("auditor"),
            json={"resident_id": person, "role": "new_city", "other_city_code": YANTAI},
        ).status_code
        == 403
    )
    assert client.get(f"{BASE}/12345", headers=clerk).status_code == 404
    assert _count(node, PensionTransfer) == 0
    figure = client.post(
        f"{BASE}/fund-calculation",
        headers=clerk,
        json={
            "individual_account": "100.00",
            "years": [{"year": 2024, "months": 7, "monthly_base": "5000", "city_code": YANTAI}],
        },
    )
    assert figure.json() == {
        "individual_account": 10000,
        "pooled": 420000,
        "total": 430000,
        "explanation": "individual account 100.00 + pooled 4200.00 = 4300.00 yuan",
    }
    too_many = client.post(
        f"{BASE}/fund-calculation",
        headers=clerk,
        json={
            "individual_account": "0",
            "years": [
                {"year": 2024, "months": 7, "monthly_base": "5000", "city_code": YANTAI},
                {"year": 2024, "months": 7, "monthly_base": "5000", "city_code": "370700"},
            ],
        },
    )
    assert too_many.status_code == 422


def test_the_cli_opens_advances_lists_and_exchanges_packets(
    node: Node, ykt: Ykt, fixed_clock: clock.FixedClock, tmp_path: Path
) -> None:
    with node.transaction() as session:
        person = enrol(session, ID)
    paid = ykt("transfer", "contribute", str(person), "--year", "2024", "--base", "6000")
    assert paid.exit_code == 0, paid.output
    assert "credited 5760.00" in paid.output
    assert (
        ykt("transfer", "contribute", str(person), "--year", "2024", "--base", "6000").exit_code
        == Conflict.exit_code
    )
    assert ykt("transfer", "open", str(person)).exit_code == InvalidInput.exit_code
    opened = ykt("transfer", "open", str(person), "--to", YANTAI)
    assert opened.exit_code == 0, opened.output
    with node.transaction() as session:
        [row] = service.transfer_ledger(session)
        case_id = row.case.id
    advanced = ykt("transfer", "advance", str(case_id))
    assert advanced.exit_code == 0 and "参保缴费凭证 issued" in advanced.output
    assert ykt("transfer", "advance", str(case_id)).exit_code == Conflict.exit_code
    assert ykt("transfer", "advance", "999").exit_code == NotFound.exit_code
    fixed_clock.set(beijing(dt.date(2025, 4, 2)))
    listed = ykt("transfer", "ledger", "--overdue")
    assert listed.exit_code == 0 and "overdue" in listed.output and "联系函" in listed.output
    shown = ykt("transfer", "show", str(case_id))
    assert shown.exit_code == 0 and "pooled 8640.00" in shown.output
    out = tmp_path / "packet.json"
    exported = ykt("transfer", "export", "--to", YANTAI, "-o", str(out))
    assert exported.exit_code == 0 and "1 case(s)" in exported.output
    data = json.loads(out.read_text(encoding="utf-8"))
    data["cases"][0]["pooled"] = 1
    out.write_text(json.dumps(data), encoding="utf-8")
    tampered = ykt("transfer", "import", str(out))
    assert tampered.exit_code == service.PacketRefused.exit_code
    assert "signature" in tampered.output
    out.write_text("{not json", encoding="utf-8")
    assert ykt("transfer", "import", str(out)).exit_code == InvalidInput.exit_code
