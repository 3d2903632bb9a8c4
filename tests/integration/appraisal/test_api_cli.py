"""Staff API and ``ykt appraisal``: the pool, a case from opening to a signed conclusion, and
bad input answered with 4xx (or an exit code) with nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import AuthHeaders, Ykt
from tests.integration.appraisal._pool import EMPLOYER, pool, worker
from yikatong.appraisal import service
from yikatong.appraisal.models import AppraisalCase, Expert
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.node import Node

BASE = "/api/v1/appraisal"


def _count(node: Node, table: type) -> int:
    with node.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_a_case_over_http(demo_node: Node, demo_client: TestClient, auth: AuthHeaders) -> None:
    clerk = auth("clerk")
    added = demo_client.post(
        f"{BASE}/experts",
        headers=clerk,
        json={
            "code": "QD-100",
            "name": "王建国",
            "city_code": "370200",
            "employer": "青岛市中心医院",
            "specialities": ["骨科"],
        },
    )
    assert added.status_code == 201, added.text
    with demo_node.transaction() as session:
        pool(session)
        person, _ = worker(session)
    listed = demo_client.get(
        f"{BASE}/experts", headers=auth("auditor"), params={"speciality": "骨科"}
    )
    assert len(listed.json()) == 5
    opened = demo_client.post(
        f"{BASE}/cases",
        headers=clerk,
        json={"resident_id": person, "kind": "initial", "category": "limb", "employer": EMPLOYER},
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["id"]
    drawn = demo_client.post(f"{BASE}/cases/{case_id}/draw", headers=clerk, json={"seed": "api-1"})
    assert drawn.status_code == 200 and [s["speciality"] for s in drawn.json()] == [
        "骨科",
        "骨科",
        "康复医学",
    ]
    redrawn = demo_client.post(
        f"{BASE}/cases/{case_id}/seats/2/decline", headers=clerk, json={"reason": "回避"}
    )
    assert redrawn.status_code == 200 and redrawn.json()["round"] == 2
    assert len(demo_client.get(f"{BASE}/cases/{case_id}/seats", headers=clerk).json()) == 4
    assert demo_client.get(f"{BASE}/cases/{case_id}/draw-check", headers=clerk).json() == {
        "reproducible": True,
        "problems": [],
    }
    concluded = demo_client.post(
        f"{BASE}/cases/{case_id}/conclusion", headers=clerk, json={"grade": "9"}
    )
    assert concluded.status_code == 200 and concluded.json()["status"] == "concluded"
    verified = demo_client.post(
        f"{BASE}/conclusions/verify", headers=clerk, json=concluded.json()["conclusion"]
    )
    assert verified.status_code == 200 and verified.json()["grade"] == "9"


def test_bad_requests_are_4xx_and_change_nothing(
    demo_node: Node, demo_client: TestClient, auth: AuthHeaders
) -> None:
    clerk = auth("clerk")
    with demo_node.transaction() as session:
        person, _ = worker(session)
    for body in (
        {
            "code": "QD 1",
            "name": "王",
            "city_code": "370200",
            "employer": "医院",
            "specialities": ["骨科"],
        },
        {
            "code": "QD-1",
            "name": "王",
            "city_code": "3702",
            "employer": "医院",
            "specialities": ["骨科"],
        },
        {
            "code": "QD-1",
            "name": "王",
            "city_code": "370200",
            "employer": "医院",
            "specialities": [],
        },
        {
            "code": "QD-1",
            "name": "王",
            "city_code": "370200",
            "employer": "医院",
            "specialities": ["骨科"],
            "resident_id": 999,
        },
    ):
        response = demo_client.post(f"{BASE}/experts", headers=clerk, json=body)
        assert response.status_code in (404, 422), (body, response.text)
    assert _count(demo_node, Expert) == 0
    for body in (
        {"resident_id": person, "kind": "fifth", "category": "limb", "employer": EMPLOYER},
        {"resident_id": person, "kind": "initial", "category": "limb", "employer": ""},
        {"resident_id": 999, "kind": "initial", "category": "limb", "employer": EMPLOYER},
    ):
        response = demo_client.post(f"{BASE}/cases", headers=clerk, json=body)
        assert response.status_code in (404, 422), (body, response.text)
    assert _count(demo_node, AppraisalCase) == 0
    opened = demo_client.post(
        f"{BASE}/cases",
        headers=clerk,
        json={"resident_id": person, "kind": "initial", "category": "limb", "employer": EMPLOYER},
    )
    case_id = opened.json()["id"]
    empty_pool = demo_client.post(f"{BASE}/cases/{case_id}/draw", headers=clerk, json={})
    assert empty_pool.status_code == 409
    assert demo_client.get(f"{BASE}/cases/{case_id}", headers=clerk).json()["status"] == "open"
    assert (
        demo_client.post(
            f"{BASE}/cases/{case_id}/delegate", headers=clerk, json={"to_city": "37"}
        ).status_code
        == 422
    )
    assert (
        demo_client.post(
            f"{BASE}/cases/{case_id}/seats/0/decline", headers=clerk, json={"reason": "x"}
        ).status_code
        == 422
    )
    assert demo_client.post(f"{BASE}/cases/9999/draw", headers=clerk, json={}).status_code == 404
    assert (
        demo_client.post(
            f"{BASE}/conclusions/verify", headers=clerk, json={"format": "x"}
        ).status_code
        == 422
    )
    assert (
        demo_client.post(
            f"{BASE}/cases",
            headers=auth("auditor"),
            json={
                "resident_id": person,
                "kind": "initial",
                "category": "limb",
                "employer": EMPLOYER,
            },
        ).status_code
        == 403
    )


def test_the_cli_from_pool_to_verified_conclusion(
    demo_node: Node, ykt: Ykt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YKT_DEMO", "true")
    with demo_node.transaction() as session:
        pool(session)
        person, _ = worker(session)
    added = ykt(
        "appraisal",
        "expert",
        "add",
        "QD-9",
        "--name",
        "李",
        "--city",
        "370200",
        "--employer",
        "青岛市中心医院",
        "--speciality",
        "骨科",
        "--speciality",
        "康复医学",
    )
    assert added.exit_code == 0, added.output
    assert (
        ykt(
            "appraisal",
            "expert",
            "add",
            "QD-9",
            "--name",
            "李",
            "--city",
            "370200",
            "--employer",
            "x",
            "--speciality",
            "骨科",
        ).exit_code
        == Conflict.exit_code
    )
    assert "QD-9" in ykt("appraisal", "expert", "list", "--speciality", "康复医学").output
    opened = ykt(
        "appraisal",
        "open",
        str(person),
        "--kind",
        "initial",
        "--category",
        "limb",
        "--employer",
        EMPLOYER,
    )
    assert opened.exit_code == 0, opened.output
    with demo_node.transaction() as session:
        [case] = service.list_cases(session)
    drawn = ykt("appraisal", "draw", str(case.id), "--seed", "cli-7")
    assert drawn.exit_code == 0 and "seed cli-7" in drawn.output, drawn.output
    assert ykt("appraisal", "decline", str(case.id), "1", "--reason", "请假").exit_code == 0
    assert (
        ykt("appraisal", "conclude", str(case.id), "--grade", "eleven").exit_code
        == InvalidInput.exit_code
    )
    out = tmp_path / "conclusion.json"
    concluded = ykt("appraisal", "conclude", str(case.id), "--grade", "10", "-o", str(out))
    assert concluded.exit_code == 0, concluded.output
    verified = ykt("appraisal", "verify", str(out))
    assert verified.exit_code == 0 and "grade 10" in verified.output
    # a city does not "recognise" its own conclusion
    assert ykt("appraisal", "recognise", str(out)).exit_code == InvalidInput.exit_code
    document = json.loads(out.read_text(encoding="utf-8"))
    document["grade"] = "1"
    out.write_text(json.dumps(document), encoding="utf-8")
    assert ykt("appraisal", "verify", str(out)).exit_code == service.ConclusionRefused.exit_code
    assert ykt("appraisal", "draw", "999").exit_code == NotFound.exit_code
    assert "concluded" in ykt("appraisal", "cases").output
