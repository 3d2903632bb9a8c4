"""Certification acting on pensions, on both backends: suspension at the deadline, back-pay when
certified later, negative evidence stopping payment at once with overpayment recovery, imported
files refused whole, fallback work lists and the rate report."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.certification.conftest import PENSION, World, at, csv_file
from yikatong.benefits import service as benefits
from yikatong.benefits.models import BeneficiaryStatus
from yikatong.certification import service
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.ledger import service as ledger

MARCH, APRIL = dt.date(2025, 3, 1), dt.date(2025, 4, 1)


def _run(world: World, as_of: dt.date) -> service.RunOutcome:
    with world.node.transaction() as session:
        return service.run_certification(
            session, as_of=as_of, engine="duckdb", actor="clerk", allow_illustrative=True
        )


def _status(world: World, resident_id: int) -> BeneficiaryStatus:
    with world.node.transaction() as session:
        return benefits.get_beneficiary(session, world.programme_id, resident_id).status


def test_unconfirmed_at_the_deadline_suspends_and_certifying_later_back_pays(
    world: World, fixed_clock: clock.FixedClock
) -> None:
    late = world.retiree("张三丰", since=dt.date(2024, 1, 1))  # last seen at enrolment
    fresh = world.retiree("李四", since=dt.date(2025, 1, 1))
    outcome = _run(world, dt.date(2025, 3, 10))
    assert outcome.by_status == {"certified": 1, "fallback": 0, "suspend": 1, "negative": 0}
    assert outcome.newly_suspended == 1
    assert _status(world, late) is BeneficiaryStatus.SUSPENDED
    assert _status(world, fresh) is BeneficiaryStatus.ACTIVE

    # March is paid to the certified retiree only.
    march_lines = world.pay_month(MARCH)
    assert len(march_lines) == 1

    at(fixed_clock, dt.date(2025, 3, 20))
    with world.node.transaction() as session:
        result = service.record_channel_result(
            session,
            late,
            channel="service_point",
            outcome="alive",
            day=dt.date(2025, 3, 20),
            reference="SP-0001",
            actor="clerk-wang",
        )
    assert isinstance(result, service.Certified)
    assert (result.channel, result.valid_until, result.months_owed) == (
        "service_point",
        dt.date(2026, 3, 20),
        1,
    )
    assert _status(world, late) is BeneficiaryStatus.ACTIVE

    # The next batch pays April to both and the held March to the late one (补发).
    at(fixed_clock, dt.date(2025, 4, 2))
    world.pay_month(APRIL)
    with world.node.transaction() as session:
        paid = sorted(t.period for t in benefits.payments_of(session, late))
        assert paid == [MARCH, APRIL]
        assert [a.period for a in benefits.arrears_of(session, late)] == [MARCH]
    # a later run sees the service-point result: nothing held, nothing owed twice
    again = _run(world, dt.date(2025, 4, 2))
    assert again.by_status["certified"] == 2 and again.newly_suspended == 0
    with world.node.transaction() as session:
        state = service.state_of(session, late)
        assert (state.status, state.last_channel, state.suspended) == (
            "certified",
            "service_point",
            False,
        )


def test_a_run_that_finds_fresh_evidence_resumes_a_suspended_pension(
    world: World, fixed_clock: clock.FixedClock
) -> None:
    retiree = world.retiree("王五", since=dt.date(2024, 1, 1))
    other = world.retiree("赵六", since=dt.date(2025, 1, 1))
    _run(world, dt.date(2025, 3, 10))
    world.pay_month(MARCH)
    assert _status(world, retiree) is BeneficiaryStatus.SUSPENDED
    at(fixed_clock, dt.date(2025, 3, 25))
    # A hospital admission (imported) is silent evidence of life.
    id_number = world.id_numbers[retiree]
    with world.node.transaction() as session:
        service.import_evidence(
            session,
            kind="hospital_admission",
            data=csv_file([(id_number, "2025-03-22", "H-1")]),
            file_format="csv",
            source="qd-hospital-1",
            actor="clerk",
        )
    outcome = _run(world, dt.date(2025, 3, 25))
    assert outcome.resumed == 1
    assert _status(world, retiree) is BeneficiaryStatus.ACTIVE and _status(world, other) is (
        BeneficiaryStatus.ACTIVE
    )
    with world.node.transaction() as session:
        assert [a.period for a in benefits.arrears_of(session, retiree)] == [MARCH]
        assert service.state_of(session, retiree).last_kind == "hospital_admission"


def test_death_stops_the_pension_at_once_and_books_what_was_paid_after_it(
    world: World, fixed_clock: clock.FixedClock
) -> None:
    at(fixed_clock, dt.date(2025, 1, 5))
    retiree = world.retiree("孙七", since=dt.date(2025, 1, 1))
    for day in (dt.date(2025, 1, 5), dt.date(2025, 2, 5), dt.date(2025, 3, 5)):
        at(fixed_clock, day)
        world.pay_month(day.replace(day=1))
    id_number = world.id_numbers[retiree]
    death_file = csv_file([(id_number, "2025-01-20", "SW-2025-0001")])
    with world.node.transaction() as session:
        imported = service.import_evidence(
            session,
            kind="death",
            data=death_file,
            file_format="csv",
            source="qd-civil-affairs",
            actor="clerk",
        )
    assert (imported.added, imported.suspended, imported.overpaid_lines) == (1, 1, 2)
    assert _status(world, retiree) is BeneficiaryStatus.SUSPENDED
    with world.node.transaction() as session:
        owed = service.overpayments_of(session, retiree)
        assert [(o.period, o.amount) for o in owed] == [
            (dt.date(2025, 2, 1), PENSION),
            (dt.date(2025, 3, 1), PENSION),
        ]  # January, the month of death, was due
        receivable = ledger.get_account_by_code(session, benefits.OVERPAYMENT_RECEIVABLE_CODE)
        assert ledger.balance(session, receivable.id) == 2 * PENSION
        assert ledger.verify(session) == []
        beneficiary = benefits.get_beneficiary(session, world.programme_id, retiree)
        assert beneficiary.suspended_since == dt.date(2025, 2, 1)

    # The same file again, and a run: nothing booked twice.
    with world.node.transaction() as session:
        again = service.import_evidence(
            session,
            kind="death",
            data=death_file,
            file_format="csv",
            source="qd-civil-affairs",
            actor="clerk",
        )
    assert (again.added, again.unchanged, again.overpaid_lines) == (0, 1, 0)
    outcome = _run(world, dt.date(2025, 3, 5))
    assert outcome.by_status["negative"] == 1 and outcome.overpaid_lines == 0
    with world.node.transaction() as session:
        assert len(service.overpayments_of(session, retiree)) == 2
        receivable = ledger.get_account_by_code(session, benefits.OVERPAYMENT_RECEIVABLE_CODE)
        assert ledger.balance(session, receivable.id) == 2 * PENSION
        line_id = service.overpayments_of(session, retiree)[0].line_id
        benefits.record_overpayment_recovered(session, line_id, reference="HK-1")
        assert ledger.balance(session, receivable.id) == PENSION

    # Nobody certifies a person recorded dead.
    with pytest.raises(Conflict, match="negative evidence"), world.node.transaction() as session:
        service.record_channel_result(
            session,
            retiree,
            channel="service_point",
            outcome="alive",
            day=dt.date(2025, 3, 5),
            reference="SP-9",
            actor="clerk",
        )


def test_imprisonment_suspends_without_overpayment(world: World) -> None:
    retiree = world.retiree("周八", since=dt.date(2025, 1, 1))
    with world.node.transaction() as session:
        stop = service.record_negative_evidence(
            session,
            retiree,
            kind="imprisonment",
            occurred_on=dt.date(2025, 3, 1),
            source="qd-justice",
            source_ref="JY-7",
            actor="clerk",
        )
    assert (stop.suspended, stop.overpaid_lines) == (1, 0)
    assert _status(world, retiree) is BeneficiaryStatus.SUSPENDED


def test_a_bad_file_is_refused_whole_with_its_line_numbers(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    retiree = world.retiree("吴九")
    _, stranger_number = world.resident("郑十")
    good = world.id_numbers[retiree]
    bad_csv = csv_file(
        [
            (good, "2025-03-01", "T-1"),
            ("110105194912310021", "2025-03-01", "T-2"),  # wrong check digit
            (good, "2025-03-11", "T-3"),  # tomorrow
            (good, "2025-03-02", "T-1"),  # duplicate reference
            ("11010519491231002X", "2025-03-01", "T-5"),  # valid but not a resident here
            (good, "03/01/2025", "T-6"),
        ]
    )
    with pytest.raises(InvalidInput) as refused, world.node.transaction() as session:
        service.import_evidence(
            session,
            kind="travel_check",
            data=bad_csv,
            file_format="csv",
            source="qd-airport",
            actor="clerk",
        )
    lines = [(e["line"], e["field"]) for e in refused.value.extra["errors"]]
    assert lines == [
        (3, "id_number"),
        (4, "occurred_on"),
        (5, "source_ref"),
        (6, "id_number"),
        (7, "occurred_on"),
    ]
    # Parquet: rows are numbered from 1.
    path = tmp_path / "checks.parquet"
    pq.write_table(
        pa.table(
            {
                "id_number": [good, stranger_number, "bad"],
                "occurred_on": [dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)],
                "source_ref": ["P-1", "P-2", "P-3"],
            }
        ),
        path,
    )
    with pytest.raises(InvalidInput) as refused_parquet, world.node.transaction() as session:
        service.import_evidence(
            session,
            kind="travel_check",
            data=path.read_bytes(),
            file_format="parquet",
            source="qd-airport",
            actor="clerk",
        )
    assert [e["line"] for e in refused_parquet.value.extra["errors"]] == [3]
    with world.node.transaction() as session:
        assert service.evidence_of(session, retiree) == []
    # The good rows alone go in.
    pq.write_table(pq.read_table(path).slice(0, 2), path)
    with world.node.transaction() as session:
        outcome = service.import_evidence(
            session,
            kind="travel_check",
            data=path.read_bytes(),
            file_format="parquet",
            source="qd-airport",
            actor="clerk",
        )
    assert (outcome.rows, outcome.added) == (2, 2)


def test_work_lists_by_district_expiring_and_the_rate_report(
    world: World, fixed_clock: clock.FixedClock
) -> None:
    as_of = dt.date(2025, 3, 10)
    # last seen (enrolled) on: not due / app stage / service point / home visit / suspended
    certified = world.retiree("甲", since=dt.date(2025, 1, 1), district="370202")
    app = world.retiree("乙", since=dt.date(2024, 5, 1), district="370202")
    point = world.retiree("丙", since=dt.date(2024, 4, 1), district="370203")
    home = world.retiree("丁", since=dt.date(2024, 3, 20), district="370203")
    gone = world.retiree("戊", since=dt.date(2023, 1, 1), district="370212")
    outcome = _run(world, as_of)
    assert outcome.by_status == {"certified": 1, "fallback": 3, "suspend": 1, "negative": 0}
    with world.node.transaction() as session:
        assert {
            s: [
                i.resident_id
                for items in service.work_list(session, stage=s).values()
                for i in items
            ]
            for s in ("app_face", "service_point", "home_visit")
        } == {
            "app_face": [app],
            "service_point": [point],
            "home_visit": [home, gone],
        }
        visits = service.work_list(session, stage="home_visit")
        assert sorted(visits) == ["370203", "370212"]
        assert visits["370203"][0].name == "丁" and visits["370203"][0].address is not None
        assert (
            service.work_list(session, stage="home_visit", district_code="370212")["370212"][
                0
            ].resident_id
            == gone
        )
        soon = service.expiring(session, within_days=60, as_of=as_of, allow_illustrative=True)
        assert [(i.resident_id, i.valid_until) for i in soon] == [
            (home, dt.date(2025, 3, 20)),
            (point, dt.date(2025, 4, 1)),
            (app, dt.date(2025, 5, 1)),
        ]
        report = service.rate_report(session, as_of=as_of, allow_illustrative=True)
        assert report.target_percent == 99
        by_district = {r.district_code: (r.retirees, r.certified) for r in report.districts}
        # certified = still valid on the day (丁 until 2025-03-20), 戊 ran out long ago
        assert by_district == {"370202": (2, 2), "370203": (2, 2), "370212": (1, 0)}
        assert (report.total.retirees, report.total.certified) == (5, 4)
        assert report.total.by_channel == {"service_point": 4}
        assert not report.total.meets_target
        with pytest.raises(InvalidInput):
            service.work_list(session, stage="telepathy")
    del certified
