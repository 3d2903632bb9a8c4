"""The monthly disbursement cycle on both backends: generate → approve → export → return →
re-queue → reconcile, with the ledger moving at every step and nobody paid twice."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from tests.integration.benefits.conftest import CHECKER, MAKER, World, bank_lines, return_file
from yikatong import parallel
from yikatong.audit import service as audit
from yikatong.benefits import service
from yikatong.benefits.models import (
    BatchStatus,
    FailedDisposition,
    LineStatus,
    PaymentLine,
    ProgrammeKind,
)
from yikatong.core import clock
from yikatong.core.errors import Conflict, Forbidden, InvalidInput
from yikatong.core.ids import make_resident_id
from yikatong.core.money import yuan
from yikatong.ledger import service as ledger
from yikatong.registry import service as registry
from yikatong.registry.models import Resident

MARCH = dt.date(2025, 3, 1)
APRIL = dt.date(2025, 4, 1)
PENSION = yuan(3000)  # illustrative default of policies/qingdao/benefits-2025.yaml


def _balances(world: World, programme_id: int) -> tuple[int, int, int]:
    with world.node.transaction() as session:
        p = service.get_programme(session, programme_id)
        clearing = ledger.get_account_by_code(session, service.BANK_CLEARING_CODE)
        return (
            ledger.balance(session, p.budget_account_id),
            ledger.balance(session, p.payable_account_id),
            ledger.balance(session, clearing.id),
        )


def test_a_failed_line_is_requeued_and_paid_the_next_month(
    world: World, fixed_clock: clock.FixedClock
) -> None:
    zhang, li, wang = world.resident("张三丰"), world.resident("李四"), world.resident("王五")
    programme_id = world.pension([zhang, li, wang])
    with world.node.transaction() as session:
        march = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        assert (march.line_count, march.total) == (3, 3 * PENSION)
        assert march.value_date == dt.date(2025, 3, 10)  # pay day 10, a Monday
        service.approve_batch(session, march.id, actor=CHECKER)
    assert _balances(world, programme_id) == (
        yuan(100_000) - 3 * PENSION,
        3 * PENSION,
        yuan(100_000),
    )

    with world.node.transaction() as session:
        bank = service.export_bank_file(session, march.id, actor=MAKER)
        header, rows = bank_lines(bank.text)
        assert header == ["H", str(march.id), "pension", "2025-03", "2025-03-10", "3", "900000"]
        assert [r[2] for r in rows] == ["张*丰", "李*", "王*"]
        assert {r[3] for r in rows} == {"6222020200112233"}
        assert all(r[4] == "300000" for r in rows)
        reads = audit.search(session, actor=service.SYSTEM_ACTOR)
        assert len(reads) == 3 and all(e.fields == "bank_account" for e in reads)
        by_resident = {line.resident_id: line for line in service.batch_lines(session, march.id)}
    failed_line = by_resident[li].id
    answer = return_file(
        [
            (by_resident[zhang].id, PENSION, "paid", "CB0001", ""),
            (failed_line, PENSION, "failed", "", "account closed 账户已销户"),
            (by_resident[wang].id, PENSION, "paid", "CB0003", ""),
        ]
    )
    with world.node.transaction() as session:
        outcome = service.import_return_file(session, march.id, answer, actor=MAKER)
        assert (outcome.paid, outcome.failed, outcome.batch_status) == (2, 1, BatchStatus.CLOSED)
    # paid: payable → bank; failed: approval reversed, the money is back in the budget
    assert _balances(world, programme_id) == (
        yuan(100_000) - 2 * PENSION,
        0,
        yuan(100_000) - 2 * PENSION,
    )

    fixed_clock.set(dt.datetime(2025, 4, 2, 2, tzinfo=dt.UTC))
    with world.node.transaction() as session:
        april = service.generate_batch(session, programme_id, APRIL, actor=MAKER)
        lines = service.batch_lines(session, april.id)
        assert april.line_count == 4 and april.total == 4 * PENSION
        again = [line for line in lines if line.requeued_from_id == failed_line]
        assert len(again) == 1
        assert (again[0].period, again[0].attempt, again[0].resident_id) == (MARCH, 2, li)
        assert service.get_line(session, failed_line).disposition is FailedDisposition.REQUEUED
        service.approve_batch(session, april.id, actor=CHECKER)
        service.export_bank_file(session, april.id, actor=CHECKER)
        service.import_return_file(
            session,
            april.id,
            return_file((line.id, line.amount, "paid", f"CB1{line.id:03d}", "") for line in lines),
            actor=MAKER,
        )
        traces = service.payments_of(session, li)
    assert [(t.period, t.status) for t in traces] == [
        (APRIL, LineStatus.PAID),
        (MARCH, LineStatus.PAID),
        (MARCH, LineStatus.FAILED),
    ]
    paid_march = traces[1]
    assert paid_march.bank_account_masked == "****2233"
    assert paid_march.bank_reference is not None and paid_march.paid_transfer_id is not None
    with world.node.transaction() as session:
        report = service.reconcile_batch(session, march.id)
        assert report.balanced, report.problems
        assert (
            report.generated.amount
            == report.paid.amount + report.failed.amount + report.pending.amount
        )
        assert (report.paid.amount, report.failed.amount, report.requeued.amount) == (
            2 * PENSION,
            PENSION,
            PENSION,
        )
        assert service.reconcile_batch(session, april.id).paid.amount == 4 * PENSION
        assert ledger.verify(session) == []
    # six payments of 3000 left the bank: two in March, four in April (one for March)
    assert _balances(world, programme_id) == (
        yuan(100_000) - 6 * PENSION,
        0,
        yuan(100_000) - 6 * PENSION,
    )


def test_the_creator_cannot_approve_a_batch(world: World) -> None:
    programme_id = world.pension([world.resident()])
    with world.node.transaction() as session:
        batch = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
    with pytest.raises(Forbidden), world.node.transaction() as session:
        service.approve_batch(session, batch.id, actor=MAKER)
    with world.node.transaction() as session:
        assert service.get_batch(session, batch.id).status is BatchStatus.GENERATED
        assert service.approve_batch(session, batch.id, actor=CHECKER).approved_by == CHECKER


def test_generating_the_same_month_again_adds_nothing(world: World) -> None:
    residents = [world.resident(), world.resident()]
    programme_id = world.pension(residents)
    with world.node.transaction() as session:
        first = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
    with pytest.raises(Conflict), world.node.transaction() as session:
        service.generate_batch(session, programme_id, MARCH, actor=MAKER)
    with world.node.transaction() as session:
        assert [b.id for b in service.list_batches(session)] == [first.id]
        assert service.count_lines(session, programme_id=programme_id, period=MARCH) == 2
    # someone enrolled later gets a supplementary batch with only them in it
    late = world.resident("赵六")
    with world.node.transaction() as session:
        service.enrol_beneficiary(session, programme_id, late, actor=MAKER, first_period=MARCH)
        extra = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        assert [line.resident_id for line in service.batch_lines(session, extra.id)] == [late]


def test_the_deceased_are_left_out(world: World) -> None:
    alive, dead = world.resident(), world.resident("钱七")
    programme_id = world.pension([alive, dead])
    with world.node.transaction() as session:
        from yikatong.registry import service as registry

        registry.record_death(session, dead, dt.date(2025, 2, 20), actor=MAKER)
        batch = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        assert [line.resident_id for line in service.batch_lines(session, batch.id)] == [alive]


def test_importing_the_same_return_file_twice_changes_nothing(world: World) -> None:
    programme_id = world.pension([world.resident(), world.resident()])
    with world.node.transaction() as session:
        batch = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, batch.id, actor=CHECKER)
        service.export_bank_file(session, batch.id, actor=MAKER)
        first, second = service.batch_lines(session, batch.id)
    answer = return_file(
        [(first.id, PENSION, "paid", "CB9", ""), (second.id, PENSION, "failed", "", "frozen")]
    )
    with world.node.transaction() as session:
        service.import_return_file(session, batch.id, answer, actor=MAKER)
    before = _balances(world, programme_id)
    with world.node.transaction() as session:
        outcome = service.import_return_file(session, batch.id, answer, actor=MAKER)
        assert (outcome.paid, outcome.failed, outcome.unchanged) == (0, 0, 2)
    assert _balances(world, programme_id) == before
    flipped = return_file([(second.id, PENSION, "paid", "CB10", "")])
    with pytest.raises(InvalidInput) as refused, world.node.transaction() as session:
        service.import_return_file(session, batch.id, flipped, actor=MAKER)
    assert refused.value.extra["errors"][0]["line"] == 2
    assert _balances(world, programme_id) == before


def test_a_bad_return_file_is_refused_whole_with_line_numbers(world: World) -> None:
    programme_id = world.pension([world.resident(), world.resident()])
    with world.node.transaction() as session:
        batch = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, batch.id, actor=CHECKER)
        service.export_bank_file(session, batch.id, actor=MAKER)
        first, second = service.batch_lines(session, batch.id)
    before = _balances(world, programme_id)
    bad = return_file(
        [
            (first.id, PENSION, "paid", "CB1", ""),  # fine, but must not be applied
            (second.id, PENSION - 1, "paid", "CB2", ""),  # amount differs
            (999_999, PENSION, "paid", "CB3", ""),  # unknown line
            (first.id, PENSION, "paid", "CB1", ""),  # duplicate
        ]
    )
    with pytest.raises(InvalidInput) as refused, world.node.transaction() as session:
        service.import_return_file(session, batch.id, bad, actor=MAKER)
    errors = refused.value.extra["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (3, "amount_fen"),
        (4, "line_id"),
        (5, "line_id"),
    ]
    assert _balances(world, programme_id) == before
    with world.node.transaction() as session:
        assert all(
            line.status is LineStatus.PENDING for line in service.batch_lines(session, batch.id)
        )


def test_a_stopped_line_is_not_requeued(world: World, fixed_clock: clock.FixedClock) -> None:
    programme_id = world.pension([world.resident()])
    with world.node.transaction() as session:
        batch = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, batch.id, actor=CHECKER)
        service.export_bank_file(session, batch.id, actor=MAKER)
        (line,) = service.batch_lines(session, batch.id)
        service.import_return_file(
            session,
            batch.id,
            return_file([(line.id, PENSION, "failed", "", "no such account")]),
            actor=MAKER,
        )
        service.stop_line(session, line.id, reason="稽核止付", actor=CHECKER)
    fixed_clock.set(dt.datetime(2025, 4, 2, 2, tzinfo=dt.UTC))
    with world.node.transaction() as session:
        april = service.generate_batch(session, programme_id, APRIL, actor=MAKER)
        (only,) = service.batch_lines(session, april.id)
        assert (only.period, only.attempt) == (APRIL, 1)
        report = service.reconcile_batch(session, batch.id)
        assert (report.failed.amount, report.stopped.amount, report.balanced) == (
            PENSION,
            PENSION,
            True,
        )


def test_approval_is_refused_when_the_budget_is_short(world: World) -> None:
    programme_id = world.pension([world.resident(), world.resident()], fund=yuan(4000))
    with world.node.transaction() as session:
        batch = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
    with pytest.raises(Conflict), world.node.transaction() as session:
        service.approve_batch(session, batch.id, actor=CHECKER)
    assert _balances(world, programme_id)[:2] == (yuan(4000), 0)


def test_approving_twice_moves_the_money_once(world: World) -> None:
    programme_id = world.pension([world.resident()])
    with world.node.transaction() as session:
        batch = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, batch.id, actor=CHECKER)
    after_first = _balances(world, programme_id)
    with pytest.raises(Conflict), world.node.transaction() as session:
        service.approve_batch(session, batch.id, actor="clerk-third")
    assert (
        _balances(world, programme_id)
        == after_first
        == (
            yuan(100_000) - PENSION,
            PENSION,
            yuan(100_000),
        )
    )


def test_each_line_has_its_own_reference_and_approval_transfer(world: World) -> None:
    """Lines are drawn up and approved in SQL, each still traceable on its own: its bank
    reference holds its id, its transfer moves its amount and names it."""
    people = [world.resident(), world.resident(), world.resident()]
    programme_id = world.pension(people)
    with world.node.transaction() as session:
        batch = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, batch.id, actor=CHECKER)
        programme = service.get_programme(session, programme_id)
        lines = service.batch_lines(session, batch.id)
        assert sorted(line.resident_id for line in lines) == sorted(people)
        assert len({line.approve_transfer_id for line in lines}) == 3
        for line in lines:
            assert line.reference == f"YKT{programme_id:04d}202503{line.id:010d}"
            assert line.approve_transfer_id is not None
            transfer = ledger.get_transfer(session, line.approve_transfer_id)
            assert transfer.idempotency_key == f"benefits:line:{line.id}:approve"
            assert (transfer.debit_account_id, transfer.credit_account_id, transfer.amount) == (
                programme.budget_account_id,
                programme.payable_account_id,
                line.amount,
            )
            assert transfer.meta == {
                "batch": batch.id,
                "line": line.id,
                "resident": line.resident_id,
            }
        assert ledger.verify(session) == []


def test_reconciliation_finds_a_line_that_disagrees_with_the_ledger(world: World) -> None:
    """A line altered behind the service's back (amount no longer what the ledger moved) is
    reported, to the fen, by the grouped reconciliation."""
    people = [world.resident(), world.resident()]
    programme_id = world.pension(people)
    with world.node.transaction() as session:
        batch = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, batch.id, actor=CHECKER)
        first = service.batch_lines(session, batch.id)[0]
        assert service.reconcile_batch(session, batch.id).balanced
        session.execute(
            update(PaymentLine).where(PaymentLine.id == first.id).values(amount=first.amount + 1)
        )
        report = service.reconcile_batch(session, batch.id)
        session.rollback()
    assert (report.generated.count, report.generated.amount) == (2, 2 * PENSION + 1)
    assert (report.pending.count, report.ledger_approved) == (2, 2 * PENSION)
    assert report.problems == [
        f"lines sum to {2 * PENSION + 1} fen, the batch says {2 * PENSION}",
        f"ledger approved {2 * PENSION} fen of {2 * PENSION + 1}",
    ]


def test_per_person_amounts_sum_to_the_fen(world: World) -> None:
    amounts = [yuan(1234, 56), yuan(0, 1), yuan(987, 99), yuan(3000)]
    residents = [world.resident() for _ in amounts]
    with world.node.transaction() as session:
        programme = service.add_programme(
            session,
            code="veterans",
            kind=ProgrammeKind.VETERANS_BENEFIT,
            actor=MAKER,
            allow_illustrative=True,
        )
        service.fund_programme(
            session, programme.id, amount=sum(amounts), reference="YF-1", actor=MAKER
        )
        for rid, amount in zip(residents, amounts, strict=True):
            amount_or_default = None if amount == yuan(3000) else amount
            service.enrol_beneficiary(
                session, programme.id, rid, actor=MAKER, amount=amount_or_default
            )
        batch = service.generate_batch(session, programme.id, MARCH, actor=MAKER)
        assert batch.total == yuan(1234, 56) + 1 + yuan(987, 99) + programme.amount
        service.approve_batch(session, batch.id, actor=CHECKER)
        bank = service.export_bank_file(session, batch.id, actor=MAKER)
        _, rows = bank_lines(bank.text)
        assert sum(int(r[4]) for r in rows) == bank.total == batch.total
        lines = service.batch_lines(session, batch.id)
        service.import_return_file(
            session,
            batch.id,
            return_file(
                [
                    (lines[0].id, lines[0].amount, "paid", "P1", ""),
                    (lines[1].id, lines[1].amount, "failed", "", "invalid account"),
                ]
            ),
            actor=MAKER,
        )
        report = service.reconcile_batch(session, batch.id)
    assert report.balanced, report.problems
    assert report.generated.amount == batch.total
    assert report.paid.amount == yuan(1234, 56) and report.failed.amount == 1
    assert report.pending.amount == batch.total - yuan(1234, 56) - 1
    assert report.ledger_approved - report.ledger_reversed == (
        report.paid.amount + report.pending.amount
    )


def test_a_month_outside_the_schedule_or_too_far_ahead_is_refused(world: World) -> None:
    programme_id = world.pension([world.resident()])
    with pytest.raises(InvalidInput) as ahead, world.node.transaction() as session:
        service.generate_batch(session, programme_id, dt.date(2025, 6, 1), actor=MAKER)
    assert ahead.value.field == "month"
    with world.node.transaction() as session:
        assert service.list_batches(session) == []


@pytest.fixture
def worker_parts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every bank file, however short, is written by worker processes (as a 2M-line one is):
    the list grows by the number of parts each time the workers' file is the one kept."""
    kept: list[int] = []
    monkeypatch.setattr(service, "PARALLEL_LINES", 1)
    made_in_parts = service._bank_file_in_parts

    def counted(*args: Any, **kwargs: Any) -> Any:
        made = made_in_parts(*args, **kwargs)
        if made is not None:
            kept.append(2 * args[-1])  # two id ranges per worker
        return made

    monkeypatch.setattr(service, "_bank_file_in_parts", counted)
    return kept


@pytest.mark.parametrize("in_parts", [False, True], ids=["one-process", "worker-processes"])
def test_the_file_carries_the_account_held_at_export_and_refuses_a_resident_without_one(
    world: World, in_parts: bool, request: pytest.FixtureRequest
) -> None:
    """A line is drawn up with its resident's masked account; the bank file reveals the account
    held when it is exported, and the line then shows that one. A resident left without an
    account stops the export before anything is written. The same when worker processes write
    the file: the worker's refusal comes back as it was raised."""
    parts: list[int] = request.getfixturevalue("worker_parts") if in_parts else []
    zhang, li = world.resident("张三丰"), world.resident("李四")
    programme_id = world.pension([zhang, li])
    with world.node.transaction() as session:
        march = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        drawn = {
            line.resident_id: line.bank_account_masked
            for line in service.batch_lines(session, march.id)
        }
        assert drawn == {zhang: "****2233", li: "****2233"}
        service.approve_batch(session, march.id, actor=CHECKER)
    moved = registry.resident_row(
        registry.validate_resident(
            registry.ResidentInput(
                id_number=make_resident_id("370202", dt.date(1950, 1, 1), 998),
                name="李四",
                district_code="370202",
                bank_account="6217000011119876",
            )
        ),
        actor="test",
    )
    new_account = {k: moved[k] for k in ("bank_account_enc", "bank_account_masked")}

    def give(resident_id: int, account: dict[str, Any]) -> None:
        with world.node.transaction() as session:
            session.execute(update(Resident).where(Resident.id == resident_id).values(**account))

    give(li, new_account)
    give(zhang, {"bank_account_enc": None, "bank_account_masked": None})
    with world.node.transaction() as session, pytest.raises(Conflict, match="no payout account"):
        service.export_bank_file(session, march.id, actor=MAKER)
    with world.node.transaction() as session:
        assert service.get_batch(session, march.id).status is BatchStatus.APPROVED
        assert audit.search(session, actor=service.SYSTEM_ACTOR) == []
    give(zhang, new_account)
    with world.node.transaction() as session:
        bank = service.export_bank_file(session, march.id, actor=MAKER)
        _, rows = bank_lines(bank.text)
        assert {r[3] for r in rows} == {"6217000011119876"}
        shown = {
            line.resident_id: line.bank_account_masked
            for line in service.batch_lines(session, march.id)
        }
        assert shown == {zhang: "****9876", li: "****9876"}
        assert len(audit.search(session, actor=service.SYSTEM_ACTOR)) == 2
    assert parts == ([4] if in_parts else [])


def test_worker_processes_write_the_file_byte_for_byte_as_one_process(
    world: World, worker_parts: list[int]
) -> None:
    """A long bank file is split by line id over worker processes, which read, decrypt and
    format their ranges while the export audits every reveal: the same file, the same audit
    entries, as written in one process."""
    names = ["张三丰", "李四", '"Li Lei"', "王小明", "Smith,", "欧阳娜娜", "赵六"]
    residents = [world.resident(name) for name in names]
    programme_id = world.pension(residents)
    with world.node.transaction() as session:
        march = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, march.id, actor=CHECKER)
    with world.node.transaction() as session:
        service.PARALLEL_LINES = 10**9  # undone by the fixture's monkeypatch
        alone = service.export_bank_file(session, march.id, actor=MAKER)
    service.PARALLEL_LINES = 1
    with world.node.transaction() as session:
        in_parts = service.export_bank_file(session, march.id, actor=MAKER)
        entries = audit.search(session, actor=service.SYSTEM_ACTOR)
    assert worker_parts == [4]
    assert in_parts == alone and in_parts.count == len(names)
    assert sorted(int(e.subject_id) for e in entries) == sorted(residents * 2)


def test_workers_that_cannot_start_leave_the_file_to_this_process(
    world: World, worker_parts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker process could be started (a container's process limit): the export writes the
    file itself, and the reveal is audited once, not once per attempt."""
    residents = [world.resident(name) for name in ("张三丰", "李四")]
    programme_id = world.pension(residents)
    with world.node.transaction() as session:
        march = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, march.id, actor=CHECKER)

    @contextlib.contextmanager
    def refused(*args: Any, **kwargs: Any) -> Iterator[Any]:
        raise parallel.WorkersFailed("no worker process could be started: [Errno 11]")
        yield

    monkeypatch.setattr(parallel, "run_parts", refused)
    with world.node.transaction() as session:
        bank = service.export_bank_file(session, march.id, actor=MAKER)
        entries = audit.search(session, actor=service.SYSTEM_ACTOR)
    _, rows = bank_lines(bank.text)
    assert worker_parts == [] and [r[2] for r in rows] == ["张*丰", "李*"]
    assert sorted(int(e.subject_id) for e in entries) == sorted(residents)


def test_a_node_set_to_no_export_workers_writes_the_file_itself(
    world: World, worker_parts: list[int]
) -> None:
    residents = [world.resident(name) for name in ("张三丰", "李四")]
    programme_id = world.pension(residents)
    world.node.settings.export_workers = 0
    with world.node.transaction() as session:
        march = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, march.id, actor=CHECKER)
    with world.node.transaction() as session:
        bank = service.export_bank_file(session, march.id, actor=MAKER)
    assert worker_parts == [] and bank.count == 2


def test_lines_drawn_up_in_the_exporting_transaction_are_written_by_this_process(
    world: World, worker_parts: list[int]
) -> None:
    """Workers see what is committed: lines the export's own transaction drew up are not theirs
    to see. Their parts then do not add up, and the file is written here instead, audited once."""
    residents = [world.resident(name) for name in ("张三丰", "李四", "王五")]
    programme_id = world.pension(residents)
    with world.node.transaction() as session:
        march = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, march.id, actor=CHECKER)
        bank = service.export_bank_file(session, march.id, actor=MAKER)
        entries = audit.search(session, actor=service.SYSTEM_ACTOR)
    _, rows = bank_lines(bank.text)
    assert worker_parts == []
    assert [r[2] for r in rows] == ["张*丰", "李*", "王*"] and bank.count == 3
    assert sorted(int(e.subject_id) for e in entries) == sorted(residents)


def test_bank_file_lines_are_csv_whatever_the_name_holds(world: World) -> None:
    """Lines are written without the csv module where no field needs quoting; a masked name
    that still holds a quote or a comma (a foreign name as recorded) is quoted exactly as the
    csv module quotes it."""
    plain = world.resident("王小明")
    quoted = world.resident('"Li Lei"')
    comma = world.resident("Smith,")
    programme_id = world.pension([plain, quoted, comma])
    with world.node.transaction() as session:
        march = service.generate_batch(session, programme_id, MARCH, actor=MAKER)
        service.approve_batch(session, march.id, actor=CHECKER)
        bank = service.export_bank_file(session, march.id, actor=CHECKER)
        of_line = {line.id: line.resident_id for line in service.batch_lines(session, march.id)}
    _, rows = bank_lines(bank.text)
    names = {of_line[int(r[1])]: r[2] for r in rows}
    assert names == {plain: "王*明", quoted: '"******"', comma: "S****,"}
    # Byte for byte what the csv module writes for the same rows.
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    assert bank.text.split("\n", 1)[1] == out.getvalue()
    assert '"""******"""' in bank.text and '"S****,"' in bank.text
