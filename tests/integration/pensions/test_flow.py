"""A transfer from Qingdao to Yantai end to end, each city on its own node and database: the
four steps with their 15-working-day deadlines, the snapshots through the signed federation
inbox, and the fund posted as balanced, idempotent ledger transfers on both sides."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from tests.integration.federation.conftest import League
from tests.integration.pensions._kit import (
    QINGDAO,
    RIZHAO,
    YANTAI,
    beijing,
    deliver,
    enrol,
    person_id,
)
from yikatong import node as node_module
from yikatong.core import clock
from yikatong.core.money import yuan
from yikatong.core.outbox import OutboxMessage
from yikatong.federation import service as federation
from yikatong.ledger import service as ledger
from yikatong.node import Node
from yikatong.pensions import service
from yikatong.pensions.models import PensionContribution, PensionRole, TransferStep

ID = person_id(dt.date(1985, 6, 15), 11)  # a man, 39 in March 2025


def _balance(node: Node, code: str) -> int:
    with node.transaction() as session:
        return ledger.balance(session, ledger.get_account_by_code(session, code).id)


def _case(node: Node) -> Any:
    node_module.set_current(node)
    with node.transaction() as session:
        [case] = service.transfer_ledger(session)
        return case.case


def test_a_transfer_moves_the_fund_and_the_years_step_by_step(
    fixed_clock: clock.FixedClock, node: Node, yantai_node: Node, league: League
) -> None:
    with node.transaction() as session:
        person = enrol(session, ID)
        for year in range(2019, 2024):
            service.record_contribution(
                session, person, year=year, months=12, monthly_base=yuan(6000), actor="t"
            )
        service.record_contribution(
            session, person, year=2024, months=6, monthly_base=yuan(6500), actor="t"
        )
        # 8 % of 399 000 yuan of wages since 2006
        assert service.individual_account_balance(session, person) == yuan(31920)
        case = service.open_transfer(
            session, person, role=PensionRole.OLD_CITY, other_city_code=YANTAI, actor="clerk-qd"
        )
        assert (case.step, case.due_on) == (TransferStep.CERTIFICATE, dt.date(2025, 3, 31))
        service.advance(session, case.id, actor="clerk-qd")
        assert (case.step, case.due_on) == (TransferStep.LETTER, dt.date(2025, 3, 31))
        # 12 % of the same wages
        assert (case.individual_account, case.pooled) == (yuan(31920), yuan(47880))
        case_ref = case.case_ref
    node_module.set_current(yantai_node)
    with yantai_node.transaction() as session:
        arriving = enrol(session, ID)
    assert deliver(node, yantai_node) == ["applied", "applied"]
    there = _case(yantai_node)
    assert (there.case_ref, there.role, there.step) == (
        case_ref,
        PensionRole.NEW_CITY,
        TransferStep.LETTER,
    )
    assert (there.due_on, there.pooled, len(there.years)) == (dt.date(2025, 3, 31), yuan(47880), 6)

    fixed_clock.set(beijing(dt.date(2025, 3, 12)))
    node_module.set_current(yantai_node)
    with yantai_node.transaction() as session:
        letter = service.advance(session, there.id, actor="clerk-yt", hukou_city_code=YANTAI)
        assert (letter.step, letter.due_on, letter.temporary) == (
            TransferStep.SHEET,
            dt.date(2025, 4, 2),
            False,
        )
        # 5½ years, all in Qingdao, none in the hukou city Yantai: gathered at the hukou
        assert letter.paying_city_code == YANTAI
    assert deliver(yantai_node, node) == ["applied"]
    assert _case(node).step is TransferStep.SHEET

    fixed_clock.set(beijing(dt.date(2025, 3, 14)))
    node_module.set_current(node)
    with node.transaction() as session:
        sheet = service.advance(session, _case(node).id, actor="clerk-qd")
        assert (sheet.step, sheet.due_on) == (TransferStep.RECEIPT, dt.date(2025, 4, 7))
        assert len(sheet.transfer_ids) == 2
    assert _balance(node, f"pension:ia:{person}") == 0
    assert _balance(node, f"pension:pool:{QINGDAO}") == -yuan(47880)
    assert _balance(node, f"pension:transfer:{YANTAI}") == yuan(79800)
    assert deliver(node, yantai_node) == ["applied"]

    node_module.set_current(yantai_node)
    with yantai_node.transaction() as session:
        done = service.advance(session, there.id, actor="clerk-yt")
        assert (done.step, done.due_on) == (TransferStep.COMPLETED, None)
        recognised = session.scalars(
            select(PensionContribution).where(PensionContribution.resident_id == arriving)
        ).all()
        assert sorted((r.year, r.months, r.city_code) for r in recognised)[-1] == (2024, 6, QINGDAO)
        assert len(recognised) == 6
        assert ledger.trial_balance(session).balanced
    assert _balance(yantai_node, f"pension:ia:{arriving}") == yuan(31920)
    assert _balance(yantai_node, f"pension:pool:{YANTAI}") == yuan(47880)
    assert _balance(yantai_node, f"pension:transfer:{QINGDAO}") == -yuan(79800)
    assert deliver(yantai_node, node) == ["applied"]
    assert _case(node).step is TransferStep.COMPLETED
    node_module.set_current(node)
    with node.transaction() as session:
        assert ledger.trial_balance(session).balanced


def test_a_repeated_or_stale_snapshot_changes_nothing(
    fixed_clock: clock.FixedClock, node: Node, yantai_node: Node, league: League
) -> None:
    with node.transaction() as session:
        person = enrol(session, ID)
        service.record_contribution(
            session, person, year=2024, months=12, monthly_base=yuan(5000), actor="t"
        )
        case = service.open_transfer(
            session, person, role=PensionRole.OLD_CITY, other_city_code=YANTAI, actor="t"
        )
        opened = service.snapshot(session, case, actor="t", staff_role="clerk")
        service.advance(session, case.id, actor="t")
        certified = service.snapshot(session, case, actor="t", staff_role="clerk")
    node_module.set_current(yantai_node)
    with yantai_node.transaction() as session:
        enrol(session, ID)
    deliver(node, yantai_node)
    node_module.set_current(yantai_node)
    with yantai_node.transaction() as session:
        again = service.apply_snapshot(session, QINGDAO, certified)
        stale = service.apply_snapshot(session, QINGDAO, opened)
        assert (again.changed, stale.changed) == (False, False)
        assert again.case.step is TransferStep.LETTER
        history = list(again.case.history)
    with yantai_node.transaction() as session:
        assert service.get_case(session, again.case.id).history == history


def test_fund_postings_are_idempotent_per_case(
    node: Node, fixed_clock: clock.FixedClock, league: League
) -> None:
    with node.transaction() as session:
        person = enrol(session, ID)
        service.record_contribution(
            session, person, year=2024, months=12, monthly_base=yuan(5000), actor="t"
        )
        case = service.open_transfer(
            session, person, role=PensionRole.OLD_CITY, other_city_code=YANTAI, actor="t"
        )
        service.advance(session, case.id, actor="t")
        letter = service.snapshot(session, case, actor="t", staff_role="clerk")
        letter.update(step="sheet", letter_on="2025-03-10", hukou_city_code=YANTAI, temporary=False)
        service.apply_snapshot(session, YANTAI, letter)
        service.advance(session, case.id, actor="t")
        first = list(case.transfer_ids)
        # a crash and retry of the same posting: the ledger answers with the same transfers
        again = ledger.get_transfer_by_key(session, f"pension:{case.case_ref}:out:pool")
        assert again is not None and again.id in first
        assert ledger.balance(session, service.clearing_account(session, YANTAI)) == yuan(
            4800 + 7200
        )
        sent = session.scalars(
            select(OutboxMessage).where(OutboxMessage.payload_type == service.CASE_PAYLOAD)
        ).all()
        assert [m.body["step"] for m in sent] == ["certificate", "letter", "receipt"]


def test_a_case_for_someone_not_enrolled_waits_as_a_dead_letter_until_replayed(
    fixed_clock: clock.FixedClock, node: Node, yantai_node: Node, league: League
) -> None:
    with node.transaction() as session:
        person = enrol(session, ID)
        service.record_contribution(
            session, person, year=2024, months=12, monthly_base=yuan(5000), actor="t"
        )
        service.open_transfer(
            session, person, role=PensionRole.OLD_CITY, other_city_code=YANTAI, actor="t"
        )
    assert deliver(node, yantai_node) == ["dead-lettered"]
    node_module.set_current(yantai_node)
    with yantai_node.transaction() as session:
        [letter] = federation.dead_letters(session)
        assert "enrol the person" in letter.error
        enrol(session, ID)
    with yantai_node.transaction() as session:
        federation.replay_dead_letter(session, letter.id, actor="operator")
    assert _case(yantai_node).step is TransferStep.CERTIFICATE


def test_a_case_with_a_city_outside_the_league_waits_for_the_packet_file(
    fixed_clock: clock.FixedClock, node: Node, yantai_node: Node, league: League
) -> None:
    """Rizhao is not in the league: nothing for it goes into the outbox (no dispatcher could
    deliver it), the case says it travels in the packet file, and the packet carries it."""
    with node.transaction() as session:
        person = enrol(session, ID)
        service.record_contribution(
            session, person, year=2024, months=12, monthly_base=yuan(6000), actor="t"
        )
        case = service.open_transfer(
            session, person, role=PensionRole.OLD_CITY, other_city_code=RIZHAO, actor="clerk-qd"
        )
        service.advance(session, case.id, actor="clerk-qd")
        assert case.step is TransferStep.LETTER and case.messages == []
        notes = [entry for entry in case.history if "packet file" in entry]
        assert len(notes) == 1 and "ykt transfer export --to 371100" in notes[0]
        queued = session.scalars(select(OutboxMessage.receiver)).all()
        assert RIZHAO not in queued
        packet = service.export_packet(session, RIZHAO, actor="clerk-qd")
    assert [c["case_ref"] for c in packet["cases"]] == [case.case_ref]
