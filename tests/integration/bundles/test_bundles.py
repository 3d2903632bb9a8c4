"""一件事: one application runs the real services of several domains, each task once, with its
deadline in working days; failures wait for a clerk's retry, absent domains are waited for."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from tests.integration.bundles.conftest import CHECKER, CLERK, Town
from yikatong.benefits import service as benefits
from yikatong.benefits.models import Beneficiary, BeneficiaryStatus, ProgrammeKind
from yikatong.bundles import service as bundles
from yikatong.bundles.models import BundleStatus, TaskKind, TaskState
from yikatong.cards import service as cards
from yikatong.cards.models import Card, CardState
from yikatong.core.errors import Conflict, Forbidden, InvalidInput
from yikatong.core.ids import make_resident_id
from yikatong.core.money import yuan
from yikatong.ledger import service as ledger
from yikatong.medical import service as medical
from yikatong.registry import service as registry
from yikatong.registry.models import Resident


def _states(session: object, application_id: int) -> dict[TaskKind, TaskState]:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    return {task.kind: task.state for task in bundles.tasks_of(session, application_id)}


def _newborn_input(parent: int, **changes: object) -> bundles.NewbornInput:
    data: dict[str, object] = {
        "parent_resident_id": parent,
        "id_number": make_resident_id("370202", dt.date(2025, 2, 14), 37),
        "name": "王小宝",
        "contribution_channel": "app",
        "payment_reference": "APP-2025-0310-77",
    }
    data.update(changes)
    return bundles.NewbornInput.model_validate(data)


def test_a_newborn_is_registered_insured_without_wait_and_gets_a_card(town: Town) -> None:
    parent = town.resident("王建国", born=dt.date(1990, 5, 5))
    with town.node.transaction() as session:
        application = bundles.submit_newborn(session, _newborn_input(parent), actor="resident-1")
        assert application.status is BundleStatus.COMPLETED
        assert set(_states(session, application.id).values()) == {TaskState.DONE}
        child_id = application.subject_resident_id
        assert child_id is not None
        child = registry.get_resident(session, child_id)
        assert (child.name, child.birth_date) == ("王小宝", dt.date(2025, 2, 14))
        assert registry.relation_between(session, parent, child_id) is registry.RelationType.CHILD
        (enrolment,) = medical.enrolments_of(session, child_id)
        assert enrolment.paid and enrolment.waiting_months == 0
        assert enrolment.covered_from == dt.date(2025, 2, 14)
        card = cards.current_card_of(session, child_id)
        assert card is not None and card.state is CardState.APPLIED
        tasks = bundles.tasks_of(session, application.id)
        # 2025-03-10 (Monday) + 3 working days
        assert tasks[0].due_on == dt.date(2025, 3, 13)
        assert "no waiting period" in (tasks[1].outcome or "")


def test_running_a_bundle_again_repeats_no_effect(town: Town) -> None:
    parent = town.resident("李红", born=dt.date(1992, 8, 8))
    with town.node.transaction() as session:
        application = bundles.submit_newborn(session, _newborn_input(parent), actor="clerk")
    with town.node.transaction() as session:
        before = (
            session.scalar(select(func.count(Resident.id))),
            session.scalar(select(func.count(Card.id))),
            len(ledger.list_accounts(session, limit=1000)),
        )
        again = bundles.run_application(session, application.id, actor="clerk", include_done=True)
        assert again.status is BundleStatus.COMPLETED
        after = (
            session.scalar(select(func.count(Resident.id))),
            session.scalar(select(func.count(Card.id))),
            len(ledger.list_accounts(session, limit=1000)),
        )
        assert after == before
        child_id = again.subject_resident_id
        assert child_id is not None
        assert len(medical.contributions_of(session, child_id)) == 1
        assert all(t.attempts == 2 for t in bundles.tasks_of(session, application.id))


def test_the_same_event_cannot_be_applied_for_twice(town: Town) -> None:
    parent = town.resident("张伟", born=dt.date(1991, 1, 1))
    with town.node.transaction() as session:
        first = bundles.submit_newborn(session, _newborn_input(parent), actor="resident")
    with town.node.transaction() as session, pytest.raises(Conflict) as refused:
        bundles.submit_newborn(session, _newborn_input(parent), actor="resident")
    assert refused.value.extra["application_id"] == first.id


def test_an_older_child_or_a_missing_payment_reference_is_refused(town: Town) -> None:
    parent = town.resident("赵敏", born=dt.date(1990, 1, 1))
    older = make_resident_id("370202", dt.date(2023, 1, 1), 37)
    with town.node.transaction() as session, pytest.raises(InvalidInput) as old:
        bundles.submit_newborn(session, _newborn_input(parent, id_number=older), actor="r")
    assert old.value.field == "id_number"
    with town.node.transaction() as session, pytest.raises(InvalidInput) as no_ref:
        bundles.submit_newborn(session, _newborn_input(parent, payment_reference=None), actor="r")
    assert no_ref.value.field == "payment_reference"
    with town.node.transaction() as session:
        assert bundles.list_applications(session) == []


def test_a_family_payment_without_funds_fails_and_a_clerk_retries_it(town: Town) -> None:
    parent = town.resident("钱多多", born=dt.date(1988, 3, 3))
    data = _newborn_input(parent, contribution_channel="family", payment_reference=None)
    with town.node.transaction() as session:
        application = bundles.submit_newborn(session, data, actor="resident")
        assert application.status is BundleStatus.NEEDS_ATTENTION
        states = _states(session, application.id)
        assert states[TaskKind.REGISTRY_ENTRY] is TaskState.DONE
        assert states[TaskKind.MEDICAL_ENROLMENT] is TaskState.FAILED
        assert states[TaskKind.CARD_APPLICATION] is TaskState.DONE
        failed = bundles.tasks_of(session, application.id)[1]
        assert failed.last_error
        child_id = application.subject_resident_id
        assert child_id is not None
        assert medical.contributions_of(session, child_id) == []
    with town.node.transaction() as session:
        medical.deposit_personal_account(
            session, parent, yuan(1000), idempotency_key="payroll-2025-03-qdd", source="payroll"
        )
    with town.node.transaction() as session:
        retried = bundles.retry_task(session, failed.id, actor=CLERK)
        assert retried.status is BundleStatus.COMPLETED
        (contribution,) = medical.contributions_of(session, child_id)
        assert contribution.payer_resident_id == parent
    with town.node.transaction() as session, pytest.raises(Conflict):
        bundles.retry_task(session, failed.id, actor=CLERK)


def test_retirement_starts_the_pension_and_waits_for_the_absent_domains(town: Town) -> None:
    retiree = town.resident("孙建华", born=dt.date(1965, 2, 1))
    with town.node.transaction() as session:
        cards.apply_for_card(session, retiree, actor=CLERK)
    data = bundles.RetirementInput(
        resident_id=retiree, retire_on=dt.date(2025, 2, 1), monthly_pension=yuan(3150)
    )
    with town.node.transaction() as session:
        application = bundles.submit_retirement(session, data, actor="resident")
        states = _states(session, application.id)
        assert states[TaskKind.PENSION_START] is TaskState.FAILED  # no pension programme yet
        assert application.status is BundleStatus.NEEDS_ATTENTION
    programme_id = town.programme("pension", ProgrammeKind.BASIC_PENSION)
    with town.node.transaction() as session:
        pension = bundles.tasks_of(session, application.id)[0]
        retried = bundles.retry_task(session, pension.id, actor=CLERK)
        states = _states(session, application.id)
        assert states == {
            TaskKind.PENSION_START: TaskState.DONE,
            TaskKind.MEDICAL_STATUS: TaskState.WAITING_FOR_DOMAIN,
            TaskKind.CARD_CATEGORY: TaskState.DONE,
            TaskKind.CERTIFICATION_SCHEDULE: TaskState.WAITING_FOR_DOMAIN,
        }
        # Waiting for a domain is not completion, and not a failure either.
        assert retried.status is BundleStatus.IN_PROGRESS
        beneficiary = benefits.find_beneficiary(session, programme_id, retiree)
        assert beneficiary is not None
        assert (beneficiary.amount, beneficiary.first_period) == (315_000, dt.date(2025, 3, 1))
        category = bundles.tasks_of(session, application.id)[2].outcome or ""
        assert "senior_60" in category and "was ordinary" in category
        waiting = bundles.tasks_of(session, application.id)[3].outcome or ""
        assert "certification" in waiting


def _pay(town: Town, programme_id: int, month: dt.date) -> int:
    """Generate, approve (another clerk), export and return-pay a month's batch."""
    with town.node.transaction() as session:
        batch = benefits.generate_batch(session, programme_id, month, actor=CLERK)
        benefits.approve_batch(session, batch.id, actor=CHECKER)
        bank = benefits.export_bank_file(session, batch.id, actor=CLERK)
        rows = [r for r in csv.reader(io.StringIO(bank.text)) if r[0] == "D"]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(benefits.RETURN_HEADER)
        writer.writerows([(r[1], r[4], "paid", f"BK-{r[1]}", "") for r in rows])
        benefits.import_return_file(session, batch.id, out.getvalue(), actor=CHECKER)
        return batch.id


MARCH, APRIL = dt.date(2025, 3, 1), dt.date(2025, 4, 1)


def test_a_death_cancels_cards_stops_payments_grants_once_and_recovers_the_overpayment(
    town: Town,
) -> None:
    deceased = town.resident("周老汉", born=dt.date(1940, 6, 1))
    daughter = town.resident("周小梅", born=dt.date(1968, 9, 9))
    town.relate(daughter, deceased, "parent")
    with town.node.transaction() as session:
        card = cards.apply_for_card(session, deceased, actor=CLERK)
    pension = town.programme("pension", ProgrammeKind.BASIC_PENSION)
    grant = town.programme("funeral-grant", ProgrammeKind.SUBSIDY)
    with town.node.transaction() as session:
        benefits.enrol_beneficiary(session, pension, deceased, actor=CLERK, first_period=MARCH)
    _pay(town, pension, MARCH)  # the month of death: due
    _pay(town, pension, APRIL)  # paid in advance, after the death on 03-05: owed back
    data = bundles.DeathInput(
        resident_id=deceased, died_on=dt.date(2025, 3, 5), applicant_resident_id=daughter
    )
    with town.node.transaction() as session:
        application = bundles.submit_death(session, data, actor="resident")
        assert application.status is BundleStatus.COMPLETED, [
            (t.kind, t.last_error) for t in bundles.tasks_of(session, application.id)
        ]
        assert registry.get_resident(session, deceased).died_on == dt.date(2025, 3, 5)
        assert cards.get_card(session, card.card_no).state is CardState.CANCELLED
        stopped = benefits.find_beneficiary(session, pension, deceased)
        assert stopped is not None and stopped.status is BeneficiaryStatus.STOPPED
        funeral = benefits.find_beneficiary(session, grant, daughter)
        assert funeral is not None
        assert (funeral.amount, funeral.first_period, funeral.last_period) == (
            500_000,
            MARCH,
            MARCH,
        )
        receivable = ledger.get_account_by_code(session, benefits.OVERPAYMENT_RECEIVABLE_CODE)
        assert ledger.balance(session, receivable.id) == 300_000
        assert "1 payment(s)" in (bundles.tasks_of(session, application.id)[-1].outcome or "")
    with town.node.transaction() as session:
        bundles.run_application(session, application.id, actor=CLERK, include_done=True)
        receivable = ledger.get_account_by_code(session, benefits.OVERPAYMENT_RECEIVABLE_CODE)
        assert ledger.balance(session, receivable.id) == 300_000
        assert session.scalar(select(func.count(Beneficiary.id))) == 2
        assert ledger.verify(session) == []
    # The grant is paid once: March pays it, April draws nobody.
    _pay(town, grant, MARCH)
    with town.node.transaction() as session, pytest.raises(Conflict):
        benefits.generate_batch(session, grant, APRIL, actor=CLERK)
    with town.node.transaction() as session:
        paid = [
            p
            for p in benefits.payments_of(session, daughter)
            if p.programme_code == "funeral-grant"
        ]
        assert [(p.period, p.amount) for p in paid] == [(MARCH, 500_000)]


def test_a_death_is_reported_by_a_relative_only(town: Town) -> None:
    deceased = town.resident("吴老太", born=dt.date(1938, 1, 1))
    stranger = town.resident("陌生人", born=dt.date(1980, 1, 1))
    data = bundles.DeathInput(
        resident_id=deceased, died_on=dt.date(2025, 3, 1), applicant_resident_id=stranger
    )
    with town.node.transaction() as session, pytest.raises(Forbidden):
        bundles.submit_death(session, data, actor="resident")


def test_a_payment_still_at_the_bank_holds_the_recovery_until_the_return_file(
    town: Town,
) -> None:
    deceased = town.resident("郑老伯", born=dt.date(1941, 6, 1))
    son = town.resident("郑大海", born=dt.date(1970, 9, 9))
    town.relate(son, deceased, "parent")
    pension = town.programme("pension", ProgrammeKind.BASIC_PENSION)
    town.programme("funeral-grant", ProgrammeKind.SUBSIDY)
    with town.node.transaction() as session:
        benefits.enrol_beneficiary(
            session, pension, deceased, actor=CLERK, first_period=dt.date(2025, 3, 1)
        )
        batch = benefits.generate_batch(session, pension, APRIL, actor=CLERK)
        benefits.approve_batch(session, batch.id, actor=CHECKER)
        benefits.export_bank_file(session, batch.id, actor=CLERK)
    data = bundles.DeathInput(
        resident_id=deceased, died_on=dt.date(2025, 3, 2), applicant_resident_id=son
    )
    with town.node.transaction() as session:
        application = bundles.submit_death(session, data, actor="clerk")
        recovery = bundles.tasks_of(session, application.id)[-1]
        assert recovery.state is TaskState.FAILED
        assert "return file" in (recovery.last_error or "")
        assert application.status is BundleStatus.NEEDS_ATTENTION
