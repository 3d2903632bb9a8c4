"""Rules across cover years through the stored path: a gap year (断保) lengthens the wait, the
accumulators restart on 1 January (also after a leap day), and a continuous-enrolment reward
earned over the years raises the critical-illness cap of a stored settlement.

2026 uses the illustrative 2026 policy file (2025 figures carried over, marked illustrative)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.orm import Session

from tests.integration.medical._world import resident
from tests.integration.medical.conftest import beijing
from yikatong.core import clock
from yikatong.core.errors import Conflict
from yikatong.core.money import Fen
from yikatong.medical import service
from yikatong.medical.rules import ClaimItem, ItemClass

VISIT = (ClaimItem(ItemClass.A, 1, Fen(500000), "surgery"),)


def _pay(session: Session, person: int, year: int, paid_on: dt.date, **extra: object) -> object:
    return service.pay_contribution(
        session, person, year, channel="bank", tier="tier1", external_ref=f"R-{year}",
        paid_on=paid_on, idempotency_key=f"multi-{person}-{year}", actor="test",
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def _hospital(session: Session) -> None:
    service.register_institution(
        session, code="QD-H2", name="区医院", level=2, designated=True, province_direct=False
    )


def _settle(session: Session, person: int, claim_no: str, on: dt.date) -> service.SettledClaim:
    return service.settle(
        session, institution_code="QD-H2", resident_id=person, claim_no=claim_no, items=VISIT,
        service_date=on, actor="cashier",
    )  # fmt: skip


def test_one_uninsured_year_waits_four_months_and_refuses_benefits_until_then(
    session: Session, fixed_clock: clock.FixedClock
) -> None:
    _hospital(session)
    person = resident(session, dt.date(1970, 8, 8), card=False)
    _pay(session, person, 2024, dt.date(2023, 11, 1))  # insured 2024, nothing for 2025
    fixed_clock.set(beijing(dt.date(2026, 3, 2)))
    paid = _pay(session, person, 2026, dt.date(2026, 3, 2))
    enrolment = paid.enrolment  # type: ignore[attr-defined]
    # 2025 national rule: fixed 3 months + 1 per uninsured year, from the payment date
    assert (enrolment.cover_rule, enrolment.waiting_months) == ("broken_cover", 4)
    assert enrolment.covered_from == dt.date(2026, 7, 2)
    assert enrolment.continuous_years == 0
    assert any("1 uninsured year(s) before 2026" in line for line in enrolment.explanation)

    fixed_clock.set(beijing(dt.date(2026, 7, 2)))
    with pytest.raises(Conflict, match="waiting period on 2026-07-01"):
        _settle(session, person, "G-1", dt.date(2026, 7, 1))
    assert _settle(session, person, "G-2", dt.date(2026, 7, 2)).record.fund > 0


def test_back_paying_the_gap_year_shortens_the_wait(
    session: Session, fixed_clock: clock.FixedClock
) -> None:
    person = resident(session, dt.date(1971, 9, 9), card=False)
    _pay(session, person, 2024, dt.date(2023, 11, 1))
    fixed_clock.set(beijing(dt.date(2026, 3, 2)))
    paid = _pay(session, person, 2026, dt.date(2026, 3, 2), back_paid_months=12)
    enrolment = paid.enrolment  # type: ignore[attr-defined]
    assert (enrolment.waiting_months, enrolment.covered_from) == (3, dt.date(2026, 6, 2))


def test_a_gap_year_paid_in_the_window_still_waits_from_1_january(
    session: Session, fixed_clock: clock.FixedClock
) -> None:
    person = resident(session, dt.date(1972, 10, 10), card=False)
    _pay(session, person, 2024, dt.date(2023, 11, 1))
    fixed_clock.set(beijing(dt.date(2025, 11, 3)))
    paid = _pay(session, person, 2026, dt.date(2025, 11, 3))
    enrolment = paid.enrolment  # type: ignore[attr-defined]
    assert (enrolment.waiting_months, enrolment.covered_from) == (4, dt.date(2026, 5, 1))


def test_accumulators_restart_on_1_january_after_a_leap_day(session: Session) -> None:
    _hospital(session)
    person = resident(session, dt.date(1973, 11, 11), card=False)
    _pay(session, person, 2024, dt.date(2023, 11, 1))
    _pay(session, person, 2025, dt.date(2024, 11, 1))
    leap = _settle(session, person, "Y-1", dt.date(2024, 2, 29)).record
    eve = _settle(session, person, "Y-2", dt.date(2024, 12, 31)).record
    new_year = _settle(session, person, "Y-3", dt.date(2025, 1, 1)).record
    assert (leap.year, eve.year, new_year.year) == (2024, 2024, 2025)
    # the deductible is paid once in 2024 (on the leap day), again from 1 January 2025
    assert leap.delta_deductible > 0
    assert eve.delta_deductible == 0
    assert new_year.delta_deductible == leap.delta_deductible
    y2024 = service.accumulators_of(session, person, 2024)
    y2025 = service.accumulators_of(session, person, 2025)
    assert y2024.fund_paid == leap.fund + eve.fund
    assert y2025.fund_paid == new_year.fund


def test_the_reward_of_recognised_years_raises_the_critical_illness_cap_when_stored(
    session: Session,
) -> None:
    _hospital(session)
    person = resident(session, dt.date(1960, 12, 12), card=False)
    case = service.request_transfer(session, person, old_city_code="370600", actor="clerk")
    service.apply_transfer_packet(
        session, "370600", service.TRANSFER_HISTORY,
        {"case_ref": case.case_ref, "insured_years": [2020, 2021, 2022, 2023, 2024],
         "covered_until": "2024-12-31"},
    )  # fmt: skip
    service.complete_transfer(session, case.id, actor="clerk")
    paid = _pay(session, person, 2025, dt.date(2025, 3, 10))
    reward = paid.reward  # type: ignore[attr-defined]
    assert reward == Fen(100000)  # 5 continuous years, 1 beyond the 4 before the reward
    huge = (ClaimItem(ItemClass.A, 1, Fen(200_000_000), "transplant"),)
    stored = service.settle(
        session, institution_code="QD-H2", resident_id=person, claim_no=str(uuid.uuid4())[:20],
        items=huge, service_date=dt.date(2025, 3, 10), actor="cashier",
    ).settlement  # fmt: skip
    assert stored is not None

    def what_if(years: int) -> Fen:
        return service.what_if(
            "qingdao", 2025, institution_level=2, items=huge, continuous_years=years,
            allow_illustrative=True,
        ).settlement.critical_illness  # fmt: skip

    assert stored.critical_illness == what_if(5)
    assert stored.critical_illness - what_if(0) == reward
