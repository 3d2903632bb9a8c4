"""The "办一件事" portal pages and the console's batch and dead-letter pages over HTTP (the
browser journeys are in tests/e2e/web/test_batches.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.integration.bundles.conftest import CLERK, Town
from yikatong.api.app import create_app
from yikatong.api.auth import issue_token
from yikatong.benefits import service as benefits
from yikatong.benefits.models import ProgrammeKind
from yikatong.bundles import service as bundles
from yikatong.node import Node
from yikatong.web.session import COOKIE


@pytest.fixture
def web(demo_node: Node) -> Iterator[TestClient]:
    with TestClient(
        create_app(node=demo_node), raise_server_exceptions=True, follow_redirects=False
    ) as test_client:
        yield test_client


def _as_resident(web: TestClient, node: Node, resident_id: int) -> None:
    token = issue_token(node, f"demo-{resident_id}", ["resident"], resident_id=resident_id)
    web.cookies.set(COOKIE, token)


def test_the_portal_needs_a_signed_in_resident(web: TestClient) -> None:
    answer = web.get("/me/bundles")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_a_refused_newborn_application_explains_itself_and_keeps_the_form(
    web: TestClient, town: Town
) -> None:
    parent = town.resident("孔乙己", born=dt.date(1990, 1, 1))
    _as_resident(web, town.node, parent)
    answer = web.post(
        "/me/bundles/newborn",
        data={"name": "孔小宝", "id_number": "370202", "channel": "app", "reference": "A-1"},
    )
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text and 'value="孔小宝"' in answer.text
    with town.node.transaction() as session:
        assert bundles.list_applications(session) == []


def test_a_relative_reports_a_death_and_only_they_see_it(web: TestClient, town: Town) -> None:
    deceased = town.resident("老李", born=dt.date(1940, 1, 1))
    son = town.resident("小李", born=dt.date(1970, 1, 1))
    town.relate(son, deceased, "parent")
    town.programme("funeral-grant", ProgrammeKind.SUBSIDY)
    _as_resident(web, town.node, son)
    page = web.get("/me/bundles")
    assert page.status_code == 200 and "老李" in page.text
    answer = web.post("/me/bundles/death", data={"relative": deceased, "died_on": "2025-03-01"})
    assert answer.status_code == 303, answer.text
    status = web.get(answer.headers["location"])
    assert 'data-status="completed"' in status.text
    assert 'data-task="funeral_grant" data-state="done"' in status.text
    _as_resident(web, town.node, town.resident("路人", born=dt.date(1980, 1, 1)))
    assert web.get(answer.headers["location"]).status_code == 403


def test_the_maker_is_refused_on_the_batch_page_with_the_reason(
    web: TestClient, town: Town
) -> None:
    rid = town.resident("发放对象", born=dt.date(1950, 1, 1))
    pid = town.programme("pension", ProgrammeKind.BASIC_PENSION)
    with town.node.transaction() as session:
        benefits.enrol_beneficiary(session, pid, rid, actor=CLERK)
    web.cookies.set(COOKIE, issue_token(town.node, "clerk-demo", ["clerk"]))
    made = web.post("/console/batches", data={"programme_id": pid, "month": "2025-03"})
    assert made.status_code == 303
    batch_page = made.headers["location"]
    page = web.get(batch_page)
    assert 'data-testid="maker-notice"' in page.text
    refused = web.post(f"{batch_page}/approve")
    assert refused.status_code == 403 and "another clerk must approve" in refused.text
    bad_month = web.post("/console/batches", data={"programme_id": pid, "month": "March"})
    assert bad_month.status_code == 422
    web.cookies.set(COOKIE, issue_token(town.node, "clerk-demo-2", ["clerk"]))
    approved = web.post(f"{batch_page}/approve")
    assert approved.status_code == 200 and 'data-status="approved"' in approved.text
    bank = web.post(f"{batch_page}/bank-file")
    assert bank.headers["content-type"].startswith("text/csv")
    assert bank.headers["x-line-count"] == "1"
    broken = web.post(
        f"{batch_page}/return-file", files={"file": ("r.csv", b"line_id,amount_fen\n1,2\n")}
    )
    assert broken.status_code == 422 and "nothing applied" in broken.text


def test_dead_letters_are_replayed_by_an_administrator_only(web: TestClient, town: Town) -> None:
    web.cookies.set(COOKIE, issue_token(town.node, "clerk-demo", ["clerk"]))
    assert web.get("/console/dead-letters").status_code == 200
    assert web.post("/console/dead-letters/1/replay").status_code == 403
    web.cookies.set(COOKIE, issue_token(town.node, "admin-demo", ["admin"]))
    assert web.post("/console/dead-letters/1/replay").status_code == 404


def test_a_retiree_applies_in_the_portal_and_reads_it_in_english(
    web: TestClient, town: Town
) -> None:
    retiree = town.resident("退休者", born=dt.date(1965, 2, 1))
    town.programme("pension", ProgrammeKind.BASIC_PENSION)
    _as_resident(web, town.node, retiree)
    bad = web.post("/me/bundles/retirement", data={"retire_on": "soon", "pension": "3000"})
    assert bad.status_code == 422 and 'value="3000"' in bad.text
    answer = web.post(
        "/me/bundles/retirement", data={"retire_on": "2025-02-01", "pension": "3000.50"}
    )
    assert answer.status_code == 303, answer.text
    web.cookies.set("lang", "en")
    status = web.get(answer.headers["location"])
    # No card yet: the card category step fails and waits for a clerk.
    assert "Retirement bundle" in status.text and "Needs a clerk" in status.text
    assert 'data-task="certification_schedule" data-state="waiting_for_domain"' in status.text
    assert "Waiting for the service that handles it" in status.text
