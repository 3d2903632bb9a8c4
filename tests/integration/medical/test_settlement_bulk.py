"""Bulk settlement (批量结算): the same answers as settling the claims one by one, the same
refusals, one ledger batch, each person's accumulators written once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.integration.medical._world import relate, resident
from tests.integration.medical.test_settlement_store import BILL, _hospitals, _insured
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.core.money import Fen
from yikatong.ledger import service as ledger
from yikatong.medical import service
from yikatong.medical.models import ClaimRecord
from yikatong.medical.rules import ClaimItem, ItemClass
from yikatong.registry.models import RelationType

DAY = dt.date(2025, 3, 1)
SMALL = (ClaimItem(ItemClass.A, 2, Fen(15000), "consultation"),)
LARGE = (*BILL, ClaimItem(ItemClass.B, 10, Fen(900000), "implant"))


def _people(session: Session) -> tuple[int, int, int]:
    """An insured person with a personal account, a spouse paying by family sharing, and a
    second insured person."""
    person = _insured(session)
    spouse = _insured(session, dt.date(1982, 2, 2))
    relate(session, person, spouse, RelationType.SPOUSE)
    other = _insured(session, dt.date(1990, 7, 7))
    service.deposit_personal_account(
        session, person, Fen(30000), idempotency_key=f"pa-{person}", source="payroll"
    )
    service.deposit_personal_account(
        session, spouse, Fen(50000), idempotency_key=f"pa-{spouse}", source="payroll"
    )
    return person, spouse, other


def _plan(person: int, spouse: int, other: int, tag: str) -> list[service.ClaimRequest]:
    return [
        service.ClaimRequest("QD-H3", person, f"{tag}-1", BILL, DAY),
        service.ClaimRequest("QD-C1", person, f"{tag}-2", SMALL, DAY, family_payer_id=spouse),
        service.ClaimRequest("QD-H3", other, f"{tag}-3", LARGE, DAY),
        service.ClaimRequest("QD-H3", person, f"{tag}-4", LARGE, DAY, family_payer_id=spouse),
        service.ClaimRequest("QD-C1", other, f"{tag}-5", SMALL, DAY),
    ]


def _figures(settled: service.SettledClaim) -> tuple[int, ...]:
    r = settled.record
    return (r.total, r.fund, r.critical_illness, r.personal_account, r.family_account, r.cash,
            r.delta_deductible, r.delta_fund, r.delta_ci_eligible, r.delta_ci_paid)  # fmt: skip


def test_bulk_gives_the_same_answers_as_one_by_one(session: Session) -> None:
    _hospitals(session)
    one = _people(session)
    bulk = _people(session)
    singly = [
        service.settle(
            session, institution_code=r.institution_code, resident_id=r.resident_id,
            claim_no=r.claim_no, items=r.items, service_date=r.service_date,
            family_payer_id=r.family_payer_id, actor="cashier",
        )
        for r in _plan(*one, "S")
    ]  # fmt: skip
    outcomes = service.settle_claims_bulk(session, _plan(*bulk, "B"), actor="cashier")

    assert [o.error for o in outcomes] == [None] * 5
    assert [_figures(o.settled) for o in outcomes if o.settled] == [_figures(s) for s in singly]
    for single_person, bulk_person in zip(one, bulk, strict=True):
        assert service.accumulators_of(session, single_person, 2025) == service.accumulators_of(
            session, bulk_person, 2025
        )
        assert service.personal_account_balance(
            session, single_person
        ) == service.personal_account_balance(session, bulk_person)
    # the money moved: every stored claim's transfers add up to its bill, the books balance
    for outcome in outcomes:
        assert outcome.settled is not None
        record = outcome.settled.record
        moved = sum(ledger.get_transfer(session, t).amount for t in record.transfer_ids)
        assert moved == record.total
    assert ledger.trial_balance(session).balanced
    assert ledger.verify(session) == []
    # and a bulk claim reads back and reverses like any other
    reversed_ = service.reverse_claim(session, "QD-H3", "B-4", reason="wrong patient", actor="t")
    assert reversed_.status.value == "reversed"


def test_bulk_refuses_what_settle_refuses_and_settles_the_rest(session: Session) -> None:
    _hospitals(session)
    person = _insured(session)
    waiting = resident(session, dt.date(1985, 3, 3), card=False)  # never paid
    service.settle(
        session, institution_code="QD-H3", resident_id=person, claim_no="OLD-1", items=BILL,
        service_date=DAY, actor="cashier",
    )  # fmt: skip
    before = session.scalar(select(func.count(ClaimRecord.id))) or 0
    outcomes = service.settle_claims_bulk(
        session,
        [
            service.ClaimRequest("QD-H3", person, "N-1", SMALL, DAY),
            service.ClaimRequest("QD-H3", person, "N-1", SMALL, DAY),  # duplicate in the batch
            service.ClaimRequest("QD-H3", person, "OLD-1", SMALL, DAY),  # settled before
            service.ClaimRequest("NOPE", person, "N-2", SMALL, DAY),
            service.ClaimRequest("QD-X", person, "N-3", SMALL, DAY),  # not designated
            service.ClaimRequest("QD-H3", waiting, "N-4", SMALL, DAY),  # no cover
            service.ClaimRequest("QD-H3", person, "N-5", (ClaimItem(ItemClass.A, 1, Fen(-1)),)),
            service.ClaimRequest("QD-H3", person, "N-6", SMALL, dt.date(2031, 1, 1)),
            service.ClaimRequest("QD-H3", person, "N-7", SMALL, DAY),
        ],
        actor="cashier",
    )
    kinds = [type(o.error).__name__ if o.error else "settled" for o in outcomes]
    assert kinds == [
        "settled", "Conflict", "Conflict", "InvalidInput", "InvalidInput", "Conflict",
        "InvalidInput", "InvalidInput", "settled",
    ]  # fmt: skip
    assert isinstance(outcomes[1].error, Conflict)
    assert "earlier in the batch" in outcomes[1].error.detail
    assert isinstance(outcomes[3].error, InvalidInput)
    assert outcomes[3].error.field == "institution"
    assert session.scalar(select(func.count(ClaimRecord.id))) == before + 2
    accumulators = service.accumulators_of(session, person, 2025)
    row_claims = service.claims_of(session, person, year=2025)
    assert [c.claim_no for c in row_claims] == ["OLD-1", "N-1", "N-7"]
    assert accumulators.deductible_paid == sum(c.delta_deductible for c in row_claims)


def test_bulk_of_only_refusals_stores_nothing(session: Session) -> None:
    _hospitals(session)
    person = _insured(session)
    outcomes = service.settle_claims_bulk(
        session, [service.ClaimRequest("NOPE", person, "Z-1", SMALL, DAY)], actor="cashier"
    )
    assert isinstance(outcomes[0].error, InvalidInput)
    assert session.scalar(select(func.count(ClaimRecord.id))) == 0
