"""Enrolment and contributions: category from the registry, amount from the policy, payment by
card, by a relative's personal account or an external channel, refunds, coverage dates."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.integration.medical._world import card_balance, relate, resident, top_up_card
from tests.integration.medical.conftest import beijing
from yikatong.core import clock
from yikatong.core.errors import Conflict, Forbidden, InvalidInput
from yikatong.core.money import Fen
from yikatong.ledger import service as ledger
from yikatong.ledger.service import InsufficientFunds
from yikatong.medical import service
from yikatong.medical.models import Contribution, ContributionStatus, PaymentChannel
from yikatong.medical.policy import Category
from yikatong.registry.models import RelationType


def test_category_comes_from_the_registry_and_the_amount_from_the_policy(
    session: Session,
) -> None:
    adult = resident(session, dt.date(1980, 5, 1))
    child = resident(session, dt.date(2015, 5, 1))
    student = resident(session, dt.date(2004, 5, 1), student=True)
    with pytest.raises(InvalidInput) as refused:
        service.amount_due(session, adult, 2025, tier=None)
    assert refused.value.field == "tier"
    tier1 = service.amount_due(session, adult, 2025, tier="tier1")
    assert (tier1.category, tier1.individual, tier1.subsidy) == (
        Category.TIER1, Fen(48200), Fen(85000),
    )  # fmt: skip
    assert service.amount_due(session, adult, 2024, tier="tier2").individual == Fen(39500)
    kid = service.amount_due(session, child, 2025, tier="tier1")  # a child has no tier choice
    assert (kid.category, kid.individual) == (Category.CHILD, Fen(41500))
    assert service.amount_due(session, student, 2024, tier=None).individual == Fen(15000)
    with pytest.raises(InvalidInput) as wrong_year:
        service.amount_due(session, adult, 2023, tier="tier1")
    assert wrong_year.value.field == "year"


def test_card_payment_in_the_window_covers_from_1_january(
    session: Session, fixed_clock: clock.FixedClock
) -> None:
    fixed_clock.set(beijing(dt.date(2024, 12, 31), hour=23))
    person = resident(session, dt.date(1980, 5, 1))
    top_up_card(session, person, Fen(100000))
    paid = service.pay_contribution(
        session, person, 2025, channel="card", tier="tier1", idempotency_key="pay-0001",
        actor="test",
    )  # fmt: skip
    assert paid.enrolment.covered_from == dt.date(2025, 1, 1)
    assert paid.enrolment.cover_rule == "in_window"
    assert paid.contribution.paid_on == dt.date(2024, 12, 31)
    assert any("paid in the window" in line for line in paid.enrolment.explanation)
    assert card_balance(session, person) == Fen(100000 - 48200)
    fund = ledger.get_account_by_code(session, "medical:fund:370200")
    assert ledger.balance(session, fund.id) == Fen(48200)
    again = service.pay_contribution(
        session, person, 2025, channel="card", tier="tier1", idempotency_key="pay-0001",
        actor="test",
    )  # fmt: skip
    assert again.contribution.id == paid.contribution.id
    assert card_balance(session, person) == Fen(100000 - 48200)
    with pytest.raises(Conflict):
        service.pay_contribution(
            session, person, 2025, channel="card", tier="tier1", idempotency_key="pay-0002",
            actor="test",
        )  # fmt: skip


def test_payment_after_1_january_waits_three_months(
    session: Session, fixed_clock: clock.FixedClock
) -> None:
    fixed_clock.set(beijing(dt.date(2025, 1, 1), hour=9))
    person = resident(session, dt.date(1980, 5, 1))
    top_up_card(session, person, Fen(50000))
    paid = service.pay_contribution(
        session, person, 2025, channel="card", tier="tier2", idempotency_key="late-0001",
        actor="test",
    )  # fmt: skip
    # seed 002: 1 January is after the window (closes 31 December) → 3 months from 1 January
    assert paid.enrolment.cover_rule == "late_payment"
    assert paid.enrolment.waiting_months == 3
    assert paid.enrolment.covered_from == dt.date(2025, 4, 1)
    assert card_balance(session, person) == Fen(50000 - 41500)


def test_leap_day_payment_waits_to_the_29th(
    session: Session, fixed_clock: clock.FixedClock
) -> None:
    fixed_clock.set(beijing(dt.date(2024, 2, 29)))
    person = resident(session, dt.date(1990, 1, 1), card=False)
    paid = service.pay_contribution(
        session, person, 2024, channel="bank", tier="tier1", external_ref="ICBC-778",
        idempotency_key="leap-0001", actor="test",
    )  # fmt: skip
    assert paid.enrolment.covered_from == dt.date(2024, 5, 29)
    assert paid.contribution.amount == Fen(46200)


def test_insufficient_card_balance_changes_nothing(session: Session) -> None:
    person = resident(session, dt.date(1980, 5, 1))
    top_up_card(session, person, Fen(100))
    with pytest.raises(InsufficientFunds), session.begin_nested():
        service.pay_contribution(
            session, person, 2025, channel="card", tier="tier1",
            idempotency_key="poor-0001", actor="test",
        )  # fmt: skip
    assert session.scalar(select(func.count(Contribution.id))) == 0
    assert card_balance(session, person) == Fen(100)


def test_a_relatives_personal_account_pays_when_the_policy_allows_the_relation(
    session: Session,
) -> None:
    parent = resident(session, dt.date(1960, 3, 3))
    child = resident(session, dt.date(1990, 4, 4))
    stranger = resident(session, dt.date(1970, 1, 1))
    relate(session, parent, child, RelationType.CHILD)
    service.deposit_personal_account(
        session, parent, Fen(60000), idempotency_key="pa-dep-1", source="payroll 2025-02"
    )
    paid = service.pay_contribution(
        session, child, 2025, channel=PaymentChannel.FAMILY, payer_resident_id=parent,
        tier="tier1", idempotency_key="fam-0001", actor="test",
    )  # fmt: skip
    assert paid.contribution.payer_resident_id == parent
    assert service.personal_account_balance(session, parent) == Fen(60000 - 48200)
    with pytest.raises(Forbidden):
        service.pay_contribution(
            session, stranger, 2025, channel="family", payer_resident_id=parent, tier="tier1",
            idempotency_key="fam-0002", actor="test",
        )  # fmt: skip
    with pytest.raises(InvalidInput) as missing:
        service.pay_contribution(
            session, stranger, 2025, channel="family", tier="tier1",
            idempotency_key="fam-0003", actor="test",
        )  # fmt: skip
    assert missing.value.field == "payer_resident_id"


def test_external_channel_needs_its_reference(session: Session) -> None:
    person = resident(session, dt.date(1980, 5, 1), card=False)
    with pytest.raises(InvalidInput) as refused:
        service.pay_contribution(
            session, person, 2025, channel="tax", tier="tier1", idempotency_key="tax-0001",
            actor="test",
        )  # fmt: skip
    assert refused.value.field == "external_ref"
    paid = service.pay_contribution(
        session, person, 2025, channel="tax", tier="tier1", external_ref="TAX-2025-0042",
        paid_on=dt.date(2025, 2, 28), idempotency_key="tax-0002", actor="test",
    )  # fmt: skip
    assert paid.enrolment.covered_from == dt.date(2025, 5, 28)
    clearing = ledger.get_account_by_code(session, "medical:ext:tax:370200")
    assert ledger.balance(session, clearing.id) == Fen(-48200)


def test_refund_is_a_compensating_transfer(session: Session) -> None:
    person = resident(session, dt.date(1980, 5, 1))
    top_up_card(session, person, Fen(48200))
    paid = service.pay_contribution(
        session, person, 2025, channel="card", tier="tier1", idempotency_key="ref-0001",
        actor="test",
    )  # fmt: skip
    assert card_balance(session, person) == Fen(0)
    refunded = service.refund_contribution(
        session, paid.contribution.id, reason="moved away", actor="clerk"
    )
    assert refunded.status is ContributionStatus.REFUNDED
    assert card_balance(session, person) == Fen(48200)
    enrolment = service.enrolments_of(session, person)[0]
    assert (enrolment.paid, enrolment.covered_from) == (False, None)
    with pytest.raises(Conflict):
        service.refund_contribution(session, paid.contribution.id, reason="again", actor="clerk")
    assert ledger.trial_balance(session).balanced


def test_continuous_years_count_the_unbroken_run(
    session: Session, fixed_clock: clock.FixedClock
) -> None:
    fixed_clock.set(beijing(dt.date(2023, 10, 1)))
    person = resident(session, dt.date(1980, 5, 1), card=False)
    service.pay_contribution(
        session, person, 2024, channel="app", tier="tier1", external_ref="APP-1",
        idempotency_key="run-2024", actor="test",
    )  # fmt: skip
    fixed_clock.set(beijing(dt.date(2024, 10, 1)))
    paid = service.pay_contribution(
        session, person, 2025, channel="app", tier="tier1", external_ref="APP-2",
        idempotency_key="run-2025", actor="test",
    )  # fmt: skip
    assert paid.enrolment.continuous_years == 1
    assert paid.enrolment.covered_from == dt.date(2025, 1, 1)
    assert paid.reward == Fen(0)  # the reward starts after 4 continuous years
    assert any("continuous cover: insured in 2024" in line for line in paid.enrolment.explanation)
