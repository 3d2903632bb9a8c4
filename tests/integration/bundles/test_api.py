"""``/api/v1/bundles``: residents apply for their own events and see one status, clerks list
and retry; bad input is refused with nothing stored. ``ykt bundle`` does the same at the
counter. The console page lists applications and retries a failed task."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders, Ykt
from tests.integration.bundles.conftest import Town
from yikatong.api.app import create_app
from yikatong.api.auth import issue_token
from yikatong.benefits.models import ProgrammeKind
from yikatong.bundles import service as bundles
from yikatong.core.ids import make_resident_id
from yikatong.node import Node
from yikatong.web.session import COOKIE


@pytest.fixture
def api(demo_node: Node) -> Iterator[TestClient]:
    with TestClient(create_app(node=demo_node), raise_server_exceptions=True) as test_client:
        yield test_client


def _newborn(number: int = 41) -> dict[str, object]:
    return {
        "id_number": make_resident_id("370202", dt.date(2025, 1, 20), number),
        "name": "刘小宝",
        "contribution_channel": "bank",
        "payment_reference": "ICBC-2025-0310-9",
    }


def test_a_parent_applies_for_a_newborn_and_follows_one_status(
    api: TestClient, auth: AuthHeaders, town: Town
) -> None:
    parent = town.resident("刘强", born=dt.date(1990, 1, 1))
    mine = auth("resident", resident_id=parent)
    created = api.post("/api/v1/bundles/newborn", json=_newborn(), headers=mine)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "completed" and body["applicant_resident_id"] == parent
    assert [t["kind"] for t in body["tasks"]] == [
        "registry_entry",
        "medical_enrolment",
        "card_application",
    ]
    assert {t["state"] for t in body["tasks"]} == {"done"}
    assert "*" in body["subject"]  # the ID number is shown masked
    listed = api.get("/api/v1/bundles/me", headers=mine).json()
    assert [a["id"] for a in listed] == [body["id"]]
    again = api.post("/api/v1/bundles/newborn", json=_newborn(), headers=mine)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    other = auth("resident", resident_id=town.resident("别人", born=dt.date(1991, 1, 1)))
    assert api.get(f"/api/v1/bundles/{body['id']}", headers=other).status_code == 403


def test_bad_input_is_refused_and_nothing_is_stored(
    api: TestClient, auth: AuthHeaders, town: Town
) -> None:
    parent = town.resident("黄蓉", born=dt.date(1990, 2, 2))
    mine = auth("resident", resident_id=parent)
    for change, field in (
        ({"id_number": "12345"}, "id_number"),
        ({"payment_reference": None}, "payment_reference"),
        ({"parent_resident_id": parent + 1}, None),
    ):
        refused = api.post("/api/v1/bundles/newborn", json={**_newborn(), **change}, headers=mine)
        assert refused.status_code in (403, 422), refused.text
        if field is not None:
            assert refused.json()["errors"][0]["field"] == field
    pension = {"retire_on": "2025-02-01", "monthly_pension": "-5"}
    assert api.post("/api/v1/bundles/retirement", json=pension, headers=mine).status_code == 422
    clerk = auth("clerk")
    assert api.get("/api/v1/bundles", headers=clerk).json() == []


def test_a_clerk_lists_and_retries_a_failed_task(
    api: TestClient, auth: AuthHeaders, town: Town
) -> None:
    retiree = town.resident("马大爷", born=dt.date(1965, 2, 1))
    clerk = auth("clerk", subject="clerk-counter")
    body = {"resident_id": retiree, "retire_on": "2025-02-01", "monthly_pension": "3200.50"}
    created = api.post("/api/v1/bundles/retirement", json=body, headers=clerk)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "needs_attention"
    failed = [t for t in created.json()["tasks"] if t["state"] == "failed"]
    assert [t["kind"] for t in failed] == ["pension_start", "card_category"]
    listed = api.get("/api/v1/bundles?status=needs_attention", headers=auth("auditor")).json()
    assert [a["id"] for a in listed] == [created.json()["id"]]
    resident = auth("resident", resident_id=retiree)
    refused = api.post(f"/api/v1/bundles/tasks/{failed[0]['id']}/retry", headers=resident)
    assert refused.status_code == 403
    town.programme("pension", ProgrammeKind.BASIC_PENSION)
    retried = api.post(f"/api/v1/bundles/tasks/{failed[0]['id']}/retry", headers=clerk)
    states = {t["kind"]: t["state"] for t in retried.json()["tasks"]}
    assert states["pension_start"] == "done"
    assert states["card_category"] == "failed"  # still no card: the clerk sees why
    assert "no live card" in retried.json()["tasks"][2]["last_error"]


def test_the_console_page_retries_a_failed_task(
    api: TestClient, demo_node: Node, town: Town
) -> None:
    retiree = town.resident("牛大姐", born=dt.date(1965, 2, 1))
    with demo_node.transaction() as session:
        application = bundles.submit_retirement(
            session,
            bundles.RetirementInput(
                resident_id=retiree, retire_on=dt.date(2025, 2, 1), monthly_pension=300_000
            ),
            actor="clerk-demo",
        )
        task_id = bundles.tasks_of(session, application.id)[0].id
    town.programme("pension", ProgrammeKind.BASIC_PENSION)
    api.cookies.set(COOKIE, issue_token(demo_node, "clerk-demo-2", ["clerk"]))
    page = api.get("/console/bundles?status=needs_attention")
    assert page.status_code == 200 and "牛大姐" in page.text
    retried = api.post(f"/console/bundles/tasks/{task_id}/retry")
    assert retried.status_code == 200
    assert 'data-task="pension_start" data-state="done"' in retried.text
    api.cookies.set(COOKIE, issue_token(demo_node, "auditor-demo", ["auditor"]))
    assert api.post(f"/console/bundles/tasks/{task_id}/retry").status_code == 403


def test_the_cli_submits_shows_and_retries(
    ykt: Ykt, town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YKT_DEMO", "true")  # the bundle deadlines are illustrative
    parent = town.resident("郭靖", born=dt.date(1989, 9, 9))
    result = ykt(
        "bundle", "newborn", "--parent", str(parent),
        "--id-number", make_resident_id("370202", dt.date(2025, 3, 1), 55),
        "--name", "郭襄", "--channel", "family", "--actor", "clerk-counter",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "needs_attention" in result.output and "medical_enrolment" in result.output
    listed = ykt("bundle", "list", "--status", "needs_attention")
    assert "郭襄" in listed.output
    missing = ykt("bundle", "retry", "999999")
    assert missing.exit_code == 3
    done = ykt("bundle", "retry", "1")  # the registry entry is done: nothing to retry
    assert done.exit_code == 4 and "done" in done.output


def test_the_cli_reports_a_death_for_a_relative_only(
    ykt: Ykt, town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YKT_DEMO", "true")
    deceased = town.resident("老王", born=dt.date(1939, 3, 3))
    stranger = town.resident("隔壁", born=dt.date(1975, 3, 3))
    refused = ykt(
        "bundle", "death", "--resident", str(deceased), "--died-on", "2025-03-01",
        "--applicant", str(stranger),
    )  # fmt: skip
    assert refused.exit_code == 5
    town.relate(stranger, deceased, "parent")
    done = ykt(
        "bundle", "death", "--resident", str(deceased), "--died-on", "2025-03-01",
        "--applicant", str(stranger),
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "death_registration" in done.output and "funeral_grant" in done.output
    shown = ykt("bundle", "show", "1")
    assert "needs_attention" in shown.output  # no funeral grant programme on this node
