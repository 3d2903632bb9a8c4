"""The staff API and the ``ykt certify`` / ``ykt synth`` commands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from typer.testing import Result

from tests.conftest import AuthHeaders, Ykt
from tests.integration.certification.conftest import World, csv_file


def said(result: Result) -> str:
    return " ".join(result.output.split())


def test_staff_run_report_work_list_and_record_over_http(
    world: World, client: TestClient, auth: AuthHeaders
) -> None:
    due = world.retiree("陈一", since=dt.date(2024, 1, 1), district="370211")
    world.retiree("陈二", since=dt.date(2025, 1, 1), district="370211")
    clerk = auth("clerk")
    run = client.post("/api/v1/certification/runs", json={"as_of": "2025-03-10"}, headers=clerk)
    assert run.status_code == 201, run.text
    assert run.json()["by_status"]["suspend"] == 1
    visits = client.get(
        "/api/v1/certification/work-list", params={"stage": "home_visit"}, headers=clerk
    ).json()
    assert [item["resident_id"] for item in visits["370211"]] == [due]
    assert visits["370211"][0]["name"] == "陈*"
    report = client.get(
        "/api/v1/certification/report", params={"as_of": "2025-03-10"}, headers=clerk
    )
    assert report.json()["total"]["rate_percent"] == 50.0
    assert report.json()["total"]["meets_target"] is False

    recorded = client.post(
        f"/api/v1/certification/residents/{due}/results",
        json={"channel": "home_visit", "reference": "HV-370211-7", "day": "2025-03-10"},
        headers=clerk,
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["certified"] is True and recorded.json()["months_owed"] == 0
    state = client.get(f"/api/v1/certification/residents/{due}", headers=clerk).json()
    assert (state["status"], state["last_channel"], state["suspended"]) == (
        "certified",
        "home_visit",
        False,
    )
    report = client.get(
        "/api/v1/certification/report", params={"as_of": "2025-03-10"}, headers=clerk
    )
    assert report.json()["total"]["meets_target"] is True
    assert report.json()["total"]["by_channel"]["home_visit"] == 1


def test_bad_requests_are_refused_and_change_nothing(
    world: World, client: TestClient, auth: AuthHeaders
) -> None:
    retiree = world.retiree("林三")
    clerk = auth("clerk")
    assert (
        client.post(
            "/api/v1/certification/runs", json={"engine": "oracle"}, headers=clerk
        ).status_code
        == 422
    )
    future = client.post("/api/v1/certification/runs", json={"as_of": "2030-01-01"}, headers=clerk)
    assert future.status_code == 422 and "future" in future.json()["detail"]
    assert (
        client.post("/api/v1/certification/runs", json={}, headers=auth("auditor")).status_code
        == 403
    )
    assert client.get("/api/v1/certification/report").status_code == 401
    bad_channel = client.post(
        f"/api/v1/certification/residents/{retiree}/results",
        json={"channel": "telegram", "reference": "X"},
        headers=clerk,
    )
    assert bad_channel.status_code == 422
    refused = client.post(
        "/api/v1/certification/evidence/import",
        params={"kind": "hospital_admission", "source": "qd-hospital-2"},
        content=csv_file([(world.id_numbers[retiree], "not-a-day", "H-1")]),
        headers={**clerk, "Content-Type": "application/octet-stream"},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["line"] == 2
    accepted = client.post(
        "/api/v1/certification/evidence/import",
        params={"kind": "hospital_admission", "source": "qd-hospital-2"},
        content=csv_file([(world.id_numbers[retiree], "2025-03-01", "H-1")]),
        headers={**clerk, "Content-Type": "application/octet-stream"},
    )
    assert accepted.status_code == 200 and accepted.json()["added"] == 1
    assert client.get("/api/v1/certification/residents/99999", headers=clerk).status_code == 404


def test_the_operator_certifies_from_the_command_line(
    ykt: Ykt, world: World, tmp_path: Path
) -> None:
    due = world.retiree("黄四", since=dt.date(2024, 1, 1), district="370213")
    refused = ykt("certify", "run", "--as-of", "2025-03-10")
    assert refused.exit_code == 7, refused.output  # illustrative policy outside the demo
    ran = ykt("certify", "run", "--as-of", "2025-03-10", "--demo", "--actor", "clerk-li")
    assert ran.exit_code == 0, ran.output
    assert "suspend 1" in said(ran) and "newly suspended 1" in said(ran)
    listed = ykt("certify", "work-list", "--stage", "home_visit", "--district", "370213")
    assert listed.exit_code == 0 and "黄*" in listed.output
    report = ykt("certify", "report", "--as-of", "2025-03-10", "--demo")
    assert report.exit_code == 0 and "MISSED" in report.output
    deaths = tmp_path / "deaths.csv"
    deaths.write_bytes(csv_file([(world.id_numbers[due], "2025-02-01", "SW-9")]))
    imported = ykt("certify", "import", str(deaths), "--kind", "death", "--source", "qd-mz")
    assert imported.exit_code == 0, imported.output
    assert "1 added" in said(imported)
    wrong = ykt("certify", "run", "--engine", "oracle", "--demo")
    assert wrong.exit_code == 2


def test_synthetic_evidence_is_written_as_parquet(ykt: Ykt, tmp_path: Path) -> None:
    out = tmp_path / "synth"
    made = ykt("synth", "evidence", "--retirees", "1000", "--events", "50000", "--out", str(out))
    assert made.exit_code == 0, made.output
    retirees = pq.read_table(out / "retirees")
    evidence = pq.read_table(out / "evidence")
    assert retirees.num_rows == 1000
    assert retirees.column_names == ["resident_id", "district_code"]
    assert evidence.column_names == ["resident_id", "kind", "occurred_on"]
    assert 45_000 < evidence.num_rows < 56_000
