"""A pension transfer opened in late December needs the next year's working days. Until the
State Council's holiday notice is in the calendar the case is refused (422, nothing written);
once the operator imports it with ``ykt calendar import`` the same request succeeds, over HTTP,
and the calendar API answers deadlines across the year boundary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import AuthHeaders, Ykt
from tests.integration.pensions._kit import YANTAI, beijing, enrol, person_id
from tests.unit.core.test_calendar import FUTURE, made_up_notice
from yikatong.core import calendar, clock
from yikatong.node import Node
from yikatong.pensions.models import PensionTransfer

ID = person_id(dt.date(1979, 6, 5), 17)


@pytest.fixture
def notice_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "notice.yaml"
    path.write_text(yaml.safe_dump(made_up_notice(), allow_unicode=True), encoding="utf-8")
    yield path
    calendar.forget_notice(FUTURE)


def _cases(node: Node) -> int:
    with node.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(PensionTransfer)) or 0)


def test_a_december_case_waits_for_the_notice_then_runs_into_the_new_year(
    node: Node,
    client: TestClient,
    auth: AuthHeaders,
    ykt: Ykt,
    fixed_clock: clock.FixedClock,
    notice_file: Path,
) -> None:
    fixed_clock.set(beijing(dt.date(FUTURE - 1, 12, 21)))
    clerk = auth("clerk")
    with node.transaction() as session:
        person = enrol(session, ID)
    paid = client.post(
        "/api/v1/pension-transfers/contributions",
        headers=clerk,
        json={"resident_id": person, "year": FUTURE - 2, "months": 12, "monthly_base": "6000.00"},
    )
    assert paid.status_code == 201, paid.text
    body = {"resident_id": person, "role": "old_city", "other_city_code": YANTAI}

    refused = client.post("/api/v1/pension-transfers", headers=clerk, json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/calendar-unavailable")
    assert "ykt calendar import" in refused.json()["detail"]
    assert _cases(node) == 0
    early = client.get(
        "/api/v1/calendar/deadline",
        headers=auth("auditor"),
        params={"start": f"{FUTURE - 1}-12-21", "days": 15},
    )
    assert early.status_code == 422

    imported = ykt("calendar", "import", str(notice_file))
    assert imported.exit_code == 0, imported.output
    assert "weekdays off" in imported.output
    assert (node.settings.calendar_dir / f"{FUTURE}.yaml").is_file()
    listed = ykt("calendar", "years")
    assert str(FUTURE) in listed.output and "made-up" in listed.output

    opened = client.post("/api/v1/pension-transfers", headers=clerk, json=body)
    assert opened.status_code == 201, opened.text
    due = dt.date.fromisoformat(opened.json()["due_on"])
    expected = calendar.add_working_days(dt.date(FUTURE - 1, 12, 21), 15)
    assert due == expected and due.year == FUTURE
    deadline = client.get(
        "/api/v1/calendar/deadline",
        headers=auth("auditor"),
        params={"start": f"{FUTURE - 1}-12-21", "days": 15},
    )
    assert deadline.status_code == 200
    assert deadline.json()["ends_on"] == expected.isoformat()
    days = client.get(f"/api/v1/calendar/years/{FUTURE}", headers=auth("clerk")).json()
    assert f"{FUTURE}-01-01" in days["weekdays_off"] or dt.date(FUTURE, 1, 1).weekday() >= 5
    assert days["weekend_days_worked"] == [d.isoformat() for d in made_up_notice()["working_days"]]  # type: ignore[union-attr]
    shown = ykt("calendar", "deadline", "--from", f"{FUTURE - 1}-12-21", "--days", "15")
    assert expected.isoformat() in shown.output


def test_a_bad_notice_file_is_refused_and_nothing_is_kept(
    node: Node, ykt: Ykt, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(made_up_notice(working_days=[dt.date(FUTURE, 3, 3)]), allow_unicode=True),
        encoding="utf-8",
    )
    result = ykt("calendar", "import", str(bad))
    assert result.exit_code != 0
    assert "weekday" in result.output
    assert not (node.settings.calendar_dir / f"{FUTURE}.yaml").exists()
    assert FUTURE not in calendar.supported_years()
    missing = ykt("calendar", "import", str(tmp_path / "nowhere.yaml"))
    assert missing.exit_code != 0


def test_calendar_api_refuses_bad_input_with_a_problem(
    client: TestClient, auth: AuthHeaders
) -> None:
    staff = auth("auditor")
    far = client.get(
        "/api/v1/calendar/deadline", headers=staff, params={"start": "9999-12-31", "days": 3}
    )
    assert far.status_code == 422 and far.json()["type"].endswith("/invalid-input")
    negative = client.get(
        "/api/v1/calendar/deadline", headers=staff, params={"start": "2025-03-10", "days": -1}
    )
    assert negative.status_code == 422
    assert client.get("/api/v1/calendar/years/1899", headers=staff).status_code == 422
    assert client.get("/api/v1/calendar/years").status_code == 401
    listed = client.get("/api/v1/calendar/years", headers=staff).json()
    assert {"year": 2025, "source": listed[0]["source"]} in listed
