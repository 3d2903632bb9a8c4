"""Settlement persisted: institutions, ledger postings, duplicates, reversal, re-settlement,
off-site ratios and concurrent claims of one person."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.integration.medical._world import relate, resident
from tests.integration.medical.conftest import beijing
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.core.money import Fen
from yikatong.ledger import service as ledger
from yikatong.medical import service
from yikatong.medical.models import ClaimRecord, ClaimStatus
from yikatong.medical.rules import ClaimItem, ItemClass
from yikatong.node import Node
from yikatong.registry.models import RelationType

BILL = (
    ClaimItem(ItemClass.A, 1, Fen(300000), "appendectomy"),
    ClaimItem(ItemClass.B, 2, Fen(50000), "antibiotics"),
    ClaimItem(ItemClass.C, 1, Fen(20000), "single room"),
)


def _insured(session: Session, born: dt.date = dt.date(1980, 5, 1)) -> int:
    """A resident covered from 1 January 2025 (paid by bank in the window)."""
    person = resident(session, born, card=False)
    service.pay_contribution(
        session, person, 2025, channel="bank", tier="tier1", external_ref=f"B-{person}",
        paid_on=dt.date(2024, 12, 1), idempotency_key=f"insured-{person:04d}", actor="test",
    )  # fmt: skip
    return person


def _hospitals(session: Session) -> None:
    service.register_institution(
        session, code="QD-H3", name="青岛市立医院", level=3, designated=True, province_direct=True
    )
    service.register_institution(
        session, code="QD-C1", name="社区卫生服务中心", level=1, designated=True,
        province_direct=False,
    )  # fmt: skip
    service.register_institution(
        session, code="QD-X", name="私立诊所", level=1, designated=False, province_direct=False
    )
    service.register_institution(
        session, code="JN-H3", name="济南某医院", level=3, designated=True, province_direct=True,
        city_code="370100",
    )  # fmt: skip


def _settle(session: Session, person: int, claim_no: str, **extra: object) -> service.SettledClaim:
    return service.settle(
        session, institution_code=str(extra.pop("institution", "QD-H3")), resident_id=person,
        claim_no=claim_no, items=extra.pop("items", BILL),  # type: ignore[arg-type]
        service_date=dt.date(2025, 3, 1), actor="cashier-1", **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_settlement_posts_balanced_transfers_and_carries_the_deductible(
    session: Session,
) -> None:
    _hospitals(session)
    person = _insured(session)
    first = _settle(session, person, "V-1")
    settlement = first.settlement
    assert settlement is not None
    # the same figures the pure function gives for a fresh year
    what_if = service.what_if(
        "qingdao", 2025, institution_level=3, items=BILL, allow_illustrative=True
    ).settlement
    assert (settlement.fund, settlement.cash) == (what_if.fund, what_if.cash)
    assert settlement.total == Fen(420000)
    assert settlement.deductible == Fen(100000)  # level 3 deductible 1000 yuan
    hospital = ledger.get_account_by_code(session, "medical:inst:QD-H3")
    assert ledger.balance(session, hospital.id) == Fen(420000)
    assert ledger.trial_balance(session).balanced
    assert first.record.lines[0]["code"] == "total"
    second = _settle(session, person, "V-2")
    assert second.settlement is not None
    assert second.settlement.deductible == Fen(0)  # paid with the first claim this year
    acc = service.accumulators_of(session, person, 2025)
    assert acc.deductible_paid == Fen(100000)
    assert acc.fund_paid == Fen(settlement.fund + second.settlement.fund)


def test_the_same_claim_twice_is_refused(session: Session) -> None:
    _hospitals(session)
    person = _insured(session)
    _settle(session, person, "V-9")
    with pytest.raises(Conflict) as refused:
        _settle(session, person, "V-9")
    assert "already settled" in refused.value.detail
    assert session.scalar(select(func.count(ClaimRecord.id))) == 1


def test_reversal_and_resettlement_keep_the_accumulators_right(session: Session) -> None:
    _hospitals(session)
    person = _insured(session)
    settled = _settle(session, person, "V-3")
    reversed_claim = service.reverse_claim(
        session, "QD-H3", "V-3", reason="wrong patient", actor="cashier-1"
    )
    assert reversed_claim.status is ClaimStatus.REVERSED
    assert service.accumulators_of(session, person, 2025).deductible_paid == Fen(0)
    assert service.accumulators_of(session, person, 2025).fund_paid == Fen(0)
    hospital = ledger.get_account_by_code(session, "medical:inst:QD-H3")
    assert ledger.balance(session, hospital.id) == Fen(0)
    with pytest.raises(Conflict):
        service.reverse_claim(session, "QD-H3", "V-3", reason="again", actor="cashier-1")
    again = _settle(session, person, "V-3")
    assert again.record.attempt == 2
    assert again.settlement is not None and settled.settlement is not None
    assert again.settlement.fund == settled.settlement.fund
    assert service.accumulators_of(session, person, 2025).deductible_paid == Fen(100000)
    assert ledger.balance(session, hospital.id) == Fen(420000)
    assert ledger.trial_balance(session).balanced


def test_personal_then_family_account_then_cash(session: Session) -> None:
    _hospitals(session)
    person = _insured(session)
    spouse = resident(session, dt.date(1982, 1, 1), card=False)
    relate(session, person, spouse, RelationType.SPOUSE)
    service.deposit_personal_account(
        session, person, Fen(10000), idempotency_key="pa-own-1", source="payroll"
    )
    service.deposit_personal_account(
        session, spouse, Fen(20000), idempotency_key="pa-sp-1", source="payroll"
    )
    settled = _settle(session, person, "V-4", family_payer_id=spouse).settlement
    assert settled is not None
    assert settled.personal_account == Fen(10000)
    assert settled.family_account == Fen(20000)
    assert settled.cash == settled.patient_share - Fen(30000)
    assert service.personal_account_balance(session, spouse) == Fen(0)


def test_bad_claims_change_nothing(session: Session) -> None:
    _hospitals(session)
    person = _insured(session)
    with pytest.raises(InvalidInput) as unknown:
        _settle(session, person, "V-5", institution="NOPE")
    assert unknown.value.field == "institution"
    with pytest.raises(InvalidInput) as undesignated:
        _settle(session, person, "V-5", institution="QD-X")
    assert undesignated.value.field == "institution"
    with pytest.raises(InvalidInput) as negative:
        _settle(session, person, "V-5", items=(ClaimItem(ItemClass.A, 1, Fen(-5)),))
    assert negative.value.field == "items[0].unit_price"
    with pytest.raises(InvalidInput) as wrong_year:
        service.settle(
            session, institution_code="QD-H3", resident_id=person, claim_no="V-5", items=BILL,
            service_date=dt.date(2023, 6, 1), actor="cashier-1",
        )  # fmt: skip
    assert wrong_year.value.field == "service_date"
    assert session.scalar(select(func.count(ClaimRecord.id))) == 0


def test_waiting_period_refuses_benefits_until_cover_starts(
    session: Session, fixed_clock: clock.FixedClock
) -> None:
    _hospitals(session)
    fixed_clock.set(beijing(dt.date(2025, 2, 10)))
    person = resident(session, dt.date(1980, 5, 1), card=False)
    service.pay_contribution(
        session, person, 2025, channel="app", tier="tier1", external_ref="A-1",
        idempotency_key="wait-0001", actor="test",
    )  # fmt: skip
    fixed_clock.set(beijing(dt.date(2025, 5, 9)))
    with pytest.raises(Conflict) as waiting:
        service.settle(
            session, institution_code="QD-C1", resident_id=person, claim_no="W-1", items=BILL,
            actor="cashier",
        )  # fmt: skip
    assert "covered from 2025-05-10" in waiting.value.detail
    fixed_clock.set(beijing(dt.date(2025, 5, 10)))
    service.settle(
        session, institution_code="QD-C1", resident_id=person, claim_no="W-1", items=BILL,
        actor="cashier",
    )  # fmt: skip


def test_offsite_ratio_follows_the_filing(session: Session) -> None:
    _hospitals(session)
    person = _insured(session)
    unfiled = _settle(session, person, "O-1", institution="JN-H3").settlement
    assert unfiled is not None and unfiled.ratio_bp == 6500 - 2000
    service.reverse_claim(session, "JN-H3", "O-1", reason="test", actor="c")
    filing = service.file_offsite(
        session, person, kind="referral", destination_city_code="370100",
        starts_on=dt.date(2025, 2, 20), ends_on=dt.date(2025, 3, 20),
    )  # fmt: skip
    referred = _settle(session, person, "O-1", institution="JN-H3")
    assert referred.settlement is not None and referred.settlement.ratio_bp == 6500 - 1000
    assert referred.filing is not None and referred.filing.id == filing.id
    service.file_offsite(
        session, person, kind="long_term", destination_city_code="370100",
        starts_on=dt.date(2025, 1, 1),
    )  # fmt: skip
    resident_there = _settle(session, person, "O-2", institution="JN-H3").settlement
    assert resident_there is not None and resident_there.ratio_bp == 6500


def test_filing_rules(session: Session, fixed_clock: clock.FixedClock) -> None:
    person = _insured(session)
    with pytest.raises(InvalidInput) as short:
        service.file_offsite(
            session, person, kind="temporary", destination_city_code="310000",
            starts_on=dt.date(2025, 3, 1), ends_on=dt.date(2025, 8, 30),
        )  # fmt: skip
    assert short.value.field == "ends_on"
    temporary = service.file_offsite(
        session, person, kind="temporary", destination_city_code="310000",
        starts_on=dt.date(2025, 3, 1),
    )  # fmt: skip
    assert temporary.ends_on == dt.date(2025, 8, 31)  # six months
    long_term = service.file_offsite(
        session, person, kind="long_term", destination_city_code="110000",
        starts_on=dt.date(2025, 3, 1),
    )  # fmt: skip
    assert long_term.ends_on is None
    with pytest.raises(Conflict):
        service.renew_filing(session, long_term.id)
    renewed = service.renew_filing(session, temporary.id)
    assert (renewed.starts_on, renewed.ends_on) == (dt.date(2025, 9, 1), dt.date(2026, 2, 28))
    with pytest.raises(InvalidInput) as own_city:
        service.file_offsite(
            session, person, kind="emergency", destination_city_code="370200",
            starts_on=dt.date(2025, 3, 1), ends_on=dt.date(2025, 3, 2),
        )  # fmt: skip
    assert own_city.value.field == "destination_city_code"
    cancelled = service.cancel_filing(session, long_term.id)
    assert cancelled.ends_on == dt.date(2025, 3, 9)
    with pytest.raises(Conflict):
        service.cancel_filing(session, long_term.id)


def test_concurrent_claims_of_one_person_stay_correct(demo_node: Node) -> None:
    """Eight threads settle claims of one person at once: the accumulator row lock makes the
    deductible paid exactly once and the fund total equal to the sum of the settlements."""
    with demo_node.transaction() as session:
        _hospitals(session)
        person = _insured(session)
    results: list[Fen] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(8)

    def claim(index: int) -> None:
        try:
            gate.wait()
            with demo_node.transaction() as session:
                settled = _settle(session, person, f"C-{index}")
                assert settled.settlement is not None
                results.append(settled.settlement.deductible)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [Fen(0)] * 7 + [Fen(100000)]
    with demo_node.transaction() as session:
        acc = service.accumulators_of(session, person, 2025)
        funds = session.scalars(select(ClaimRecord.fund)).all()
        assert acc.deductible_paid == Fen(100000)
        assert acc.fund_paid == sum(funds)
        assert ledger.trial_balance(session).balanced
