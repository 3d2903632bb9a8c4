"""The resident portal's certification, canteen, venue and voucher pages and the staff console's
certification work list and transfer ledgers over the test client: data seeded through the real
services shows up, each resident sees only their own, and signing in is required."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.integration.acquiring._kit import Device, Kit
from tests.support.city_figures import Slice, seed_slice
from yikatong.acquiring import service as acquiring
from yikatong.api.auth import issue_token
from yikatong.benefits import service as benefits
from yikatong.benefits.models import ProgrammeKind
from yikatong.canteens import service as canteens
from yikatong.certification import service as certification
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.core.money import format_yuan
from yikatong.medical import service as medical
from yikatong.node import Node
from yikatong.pensions import service as pensions
from yikatong.pensions.models import PensionRole
from yikatong.registry import service as registry
from yikatong.transit.bank import SandboxBank
from yikatong.venues import service as venues
from yikatong.vouchers import service as vouchers

CLERK = "clerk-more-pages"
YANTAI = "370600"
RESIDENT_PAGES = ("/me/certification", "/me/canteen", "/me/venues", "/me/vouchers")
STAFF_PAGES = ("/console/certification", "/console/transfers")
TYPES = (vouchers.TypeSpec(800_000, 60_000, 2), vouchers.TypeSpec(200_000, 30_000, 2))


@dataclass
class Seen:
    city: Slice
    meal_price: int
    meal_subsidy: int
    meal_paid: int
    pass_ref: str
    ticket_ref: str
    late_retiree: int
    pension_case: str
    medical_case: int


def _gate(node: Node, kit: Kit) -> Device:
    kit.merchant("more-culture", "venue", "青岛文旅测试")
    with node.transaction() as session:
        venues.add_venue(
            session, code="more-park", name="测试公园", category="park", operator="more-culture"
        )
        venues.add_venue(
            session,
            code="more-museum",
            name="测试博物馆",
            category="museum",
            operator="more-culture",
        )
        venues.add_product(
            session, venue_code="more-museum", code="more-ticket", kind="ticket", name="门票",
            price=2000,
        )  # fmt: skip
        venues.add_product(
            session, venue_code="more-park", code="more-pass", kind="annual_pass",
            name="公园年卡", price=10000, validity_days=365, entry_limit=3,
        )  # fmt: skip
        _, private = venues.register_gate(session, "more-park", "GATE-MORE-PARK")
    assert private is not None
    return Device("GATE-MORE-PARK", "Ed25519", private)


def _retiree_in_fallback(node: Node) -> int:
    """A pensioner enrolled a year ago with nothing since: on the fallback lists today."""
    with node.transaction() as session:
        person = registry.enrol_resident(
            session,
            registry.ResidentInput(
                id_number=make_resident_id("370203", dt.date(1948, 2, 2), 777),
                name="孙秀英",
                district_code="370203",
                address="市北区 延安路 8 号",
                bank_account="6222020200115566",
            ),
            actor=CLERK,
        )
        programme = benefits.add_programme(
            session, code="more-pension", kind=ProgrammeKind.BASIC_PENSION, actor=CLERK,
            allow_illustrative=True,
        )  # fmt: skip
        benefits.enrol_beneficiary(
            session, programme.id, person.id, actor=CLERK, first_period=dt.date(2024, 3, 1)
        )
        return person.id


@pytest.fixture
def seen(node: Node, fixed_clock: clock.FixedClock) -> Seen:
    node.settings.demo = True
    city = seed_slice(node, "370202", tag="more")
    kit = Kit(node)
    elder, card = city.pensioner, city.pensioner_card
    with node.transaction() as session:
        SandboxBank().deposit(session, card_no=card, amount=100_000, reference="more-dep")

    # a meal at a canteen of the elder's district
    with node.transaction() as session:
        canteens.register_canteen(
            session, code="more-canteen", name="测试长者食堂", district_code="370202", actor=CLERK
        )
        canteens.fund_budget(
            session, "370202", amount=1_000_000, reference="more-fund", actor=CLERK
        )
    kit.device("TILL-MORE", "more-canteen")
    with node.transaction() as session:
        till = acquiring.get_terminal(session, "TILL-MORE")
        meal = canteens.serve_meal(session, till, terminal_seq=1, price=1500, card_no=card)
        price, subsidy, paid = meal.price, meal.subsidy, meal.paid

    # a museum ticket, a park pass and one entry through the park gate
    gate = _gate(node, kit)
    with node.transaction() as session:
        ticket = venues.buy_ticket(session, elder, "more-ticket", idempotency_key="more-t1")
        annual = venues.buy_pass(session, elder, "more-pass", idempotency_key="more-p1")
        ticket_ref, pass_ref = ticket.reference, annual.reference
    with node.transaction() as session:
        terminal = acquiring.get_terminal(session, gate.terminal_no)
        entry = venues.check_entry(session, terminal, scan_seq=1, card_no=card)
        assert entry.outcome.value == "admitted", entry.reason

    # a voucher campaign of shops, releasing today at 10:00 (the fixed clock's moment)
    kit.merchant("more-shop", "shop", "测试商店")
    with node.transaction() as session:
        vouchers.create_campaign(
            session, code="more-vouchers", name="测试家电消费券", starts_on=dt.date(2025, 3, 10),
            ends_on=dt.date(2025, 3, 20), types=TYPES, merchant_codes=["more-shop"],
            budget=5_000_000, funding_reference="more-voucher-fund",
            release_time=dt.time(10, 0), valid_hours=24, redeem_from=dt.time(9, 0),
            redeem_until=dt.time(22, 0), actor="admin-more",
        )  # fmt: skip

    # certification: a run today, then the elder certified at a service point
    late = _retiree_in_fallback(node)
    with node.transaction() as session:
        certification.run_certification(
            session, as_of=fixed_clock.now().date(), actor=CLERK, allow_illustrative=True
        )
    with node.transaction() as session:
        certification.record_channel_result(
            session, elder, channel="service_point", outcome="alive",
            day=dt.date(2025, 3, 10), reference="SP-MORE-1", actor=CLERK,
        )  # fmt: skip

    # transfers: the worker brings pension and medical insurance over from Yantai
    with node.transaction() as session:
        case = pensions.open_transfer(
            session, city.worker, role=PensionRole.NEW_CITY, other_city_code=YANTAI, actor=CLERK
        )
        medical_case = medical.request_transfer(
            session, city.worker, old_city_code=YANTAI, actor=CLERK
        )
        case_ref, medical_id = case.case_ref, medical_case.id
    assert ticket_ref is not None and pass_ref is not None
    return Seen(city, price, subsidy, paid, pass_ref, ticket_ref, late, case_ref, medical_id)


def _as(client: TestClient, node: Node, resident_id: int | None, *roles: str) -> None:
    token = issue_token(node, f"more-{resident_id}", list(roles), resident_id=resident_id)
    client.cookies.set("ykt_token", token)


def test_the_pages_need_signing_in(client: TestClient, node: Node) -> None:
    for path in RESIDENT_PAGES + STAFF_PAGES:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={path}"
    answer = client.post(
        "/me/vouchers/claim",
        data={"campaign_code": "x", "type_code": "y"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    _as(client, node, 1, "resident")
    for path in STAFF_PAGES:  # a resident is not staff
        assert client.get(path, follow_redirects=False).status_code == 303


def test_pages_without_data_say_so(client: TestClient, node: Node) -> None:
    with node.transaction() as session:
        person = registry.enrol_resident(
            session,
            registry.ResidentInput(
                id_number=make_resident_id("370202", dt.date(1990, 1, 1), 901),
                name="空白",
                district_code="370202",
            ),
            actor=CLERK,
        )
    node.settings.demo = True
    _as(client, node, person.id, "resident")
    assert "尚未纳入资格认证" in client.get("/me/certification").text
    assert "尚无就餐记录" in client.get("/me/canteen").text
    page = client.get("/me/venues").text
    assert "尚无年卡" in page and "尚无门票" in page and "尚无入园记录" in page
    page = client.get("/me/vouchers").text
    assert "尚未领取消费券" in page and "今天没有正在发放的消费券活动" in page
    _as(client, node, None, "clerk")
    assert "没有需要补充认证的人员" in client.get("/console/certification").text
    assert client.get("/console/transfers").text.count("没有转移业务") == 2


def test_my_certification_canteen_and_venues(client: TestClient, node: Node, seen: Seen) -> None:
    _as(client, node, seen.city.pensioner, "resident")
    page = client.get("/me/certification").text
    assert "已认证" in page and "服务网点认证" in page and "2026-03-10" in page
    assert "正常发放" in page and "SP-MORE-1" not in page  # the reference is staff's
    page = client.get("/me/canteen").text
    assert "测试长者食堂" in page
    assert f'data-testid="subsidy-total">{format_yuan(seen.meal_subsidy)}<' in page
    assert f'data-testid="paid-total">{format_yuan(seen.meal_paid)}<' in page
    assert format_yuan(seen.meal_price) in page and 'data-testid="entitlement-left"' in page
    page = client.get("/me/venues").text
    assert seen.pass_ref in page and seen.ticket_ref in page
    assert "1 / 3" in page and "测试公园" in page and "已入园" in page
    english = client.get("/me/venues", headers={"Accept-Language": "en"}).text
    assert "My annual passes" in english and "Admitted" in english


def test_a_resident_sees_only_their_own(client: TestClient, node: Node, seen: Seen) -> None:
    _as(client, node, seen.city.pensioner, "resident")
    claimed = client.post(
        "/me/vouchers/claim", data={"campaign_code": "more-vouchers", "type_code": "2000-300"}
    )
    assert claimed.status_code == 200 and "已领取消费券" in claimed.text
    with node.transaction() as session:
        [(voucher, _, _)] = vouchers.vouchers_of_resident(session, seen.city.pensioner)
    _as(client, node, seen.city.worker, "resident")
    assert "尚未纳入资格认证" in client.get("/me/certification").text
    page = client.get("/me/canteen").text
    assert "测试长者食堂" not in page and "尚无就餐记录" in page
    page = client.get("/me/venues").text
    assert seen.pass_ref not in page and seen.ticket_ref not in page
    page = client.get("/me/vouchers").text
    assert voucher.code not in page and "测试家电消费券" in page  # the open campaign only


def test_claiming_a_voucher_and_a_refusal_in_place(
    client: TestClient, node: Node, seen: Seen
) -> None:
    _as(client, node, seen.city.worker, "resident")
    page = client.get("/me/vouchers").text
    assert 'data-testid="claim-more-vouchers-2000-300"' in page and "满2000.00减300.00元" in page
    hx = {"HX-Request": "true"}
    form = {"campaign_code": "more-vouchers", "type_code": "2000-300"}
    first = client.post("/me/vouchers/claim", data=form, headers=hx)
    assert first.status_code == 200 and "已领取消费券" in first.text
    assert "<html" not in first.text  # the fragment only
    again = client.post("/me/vouchers/claim", data=form, headers=hx)
    assert again.status_code == 200 and "already claimed a 2000-300 voucher" in again.text
    unknown = client.post(
        "/me/vouchers/claim", data={"campaign_code": "nope", "type_code": "2000-300"}
    )
    assert unknown.status_code == 404 and 'data-testid="claim-error"' in unknown.text
    assert client.post("/me/vouchers/claim", data={"campaign_code": "x"}).status_code == 422
    with node.transaction() as session:
        held = vouchers.vouchers_of_resident(session, seen.city.worker)
    assert len(held) == 1 and held[0][0].code in again.text


def test_the_certification_work_list_and_rate(client: TestClient, node: Node, seen: Seen) -> None:
    _as(client, node, None, "auditor")
    page = client.get("/console/certification").text
    assert "孙*英" in page and "延安路" in page and "上门认证" in page
    assert "2025-03-01" in page  # the retiree's certification ran out on 1 March
    assert '<strong data-testid="target">99%</strong>' in page
    assert 'data-district="370202"' in page and 'data-district="370203"' in page
    filtered = client.get("/console/certification", params={"district": "370202"}).text
    assert "孙*英" not in filtered
    assert client.get("/console/certification", params={"district": "37"}).status_code == 422


def test_the_transfer_ledgers_show_deadlines_and_overdue_cases(
    client: TestClient, node: Node, seen: Seen, fixed_clock: clock.FixedClock
) -> None:
    _as(client, node, None, "clerk")
    page = client.get("/console/transfers").text
    assert seen.pension_case[:8] in page and "参保缴费凭证" in page and YANTAI in page
    assert f'data-transfer="{seen.medical_case}"' in page and "2025-03-24" in page
    assert 'data-overdue="true"' not in page
    fixed_clock.set(dt.datetime(2025, 4, 30, 2, 0, tzinfo=dt.UTC))
    _as(client, node, None, "clerk")  # a fresh token at the new time
    late = client.get("/console/transfers", params={"overdue": "true"}).text
    assert late.count('data-overdue="true"') == 2
    assert "个工作日" in late and "step was due 2025-03-24" in late
