"""Cases on one node (Qingdao): temporary accounts, the transfer ledger's deadlines and alerts,
and refusals that leave everything as it was. The other city's steps arrive as its snapshots."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.integration.pensions._kit import QINGDAO, RIZHAO, YANTAI, beijing, enrol, person_id
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.core.money import yuan
from yikatong.ledger import service as ledger
from yikatong.node import Node
from yikatong.pensions import service
from yikatong.pensions.models import PensionRole, PensionTransfer, TransferStep

WOMAN_44 = person_id(dt.date(1980, 5, 2), 12)
MAN_30 = person_id(dt.date(1994, 8, 8), 13)


def _certificate_from_yantai(case: PensionTransfer, id_number: str) -> dict[str, Any]:
    return {
        "case_ref": case.case_ref,
        "old_city_code": YANTAI,
        "new_city_code": QINGDAO,
        "id_number": id_number,
        "step": "letter",
        "opened_on": case.opened_on.isoformat(),
        "certificate_on": "2025-03-11",
        "letter_on": None,
        "sheet_on": None,
        "receipt_on": None,
        "years": [
            {"year": 2023, "months": 12, "monthly_base": yuan(5000), "city_code": YANTAI},
            {"year": 2024, "months": 12, "monthly_base": yuan(5500), "city_code": YANTAI},
        ],
        "individual_account": yuan(9200),
        "pooled": yuan(15120),
        "hukou_city_code": None,
        "temporary": None,
        "paying_city_code": None,
    }


def test_a_woman_over_40_moving_in_gets_a_temporary_account(
    node: Node, fixed_clock: clock.FixedClock
) -> None:
    with node.transaction() as session:
        person = enrol(session, WOMAN_44, "王芳")
        case = service.open_transfer(
            session, person, role=PensionRole.NEW_CITY, other_city_code=YANTAI, actor="t"
        )
        service.apply_snapshot(session, YANTAI, _certificate_from_yantai(case, WOMAN_44))
        assert (case.step, case.due_on) == (TransferStep.LETTER, dt.date(2025, 4, 1))
        service.advance(session, case.id, actor="t", hukou_city_code=RIZHAO)
        assert (case.step, case.temporary, case.due_on) == (TransferStep.TEMPORARY, True, None)
        assert "temporary account" in case.history[-1]
        # contributions paid here now go to the temporary account, not an individual account
        service.record_contribution(
            session, person, year=2025, months=2, monthly_base=yuan(6000), actor="t"
        )
        temporary = ledger.get_account_by_code(session, f"pension:temp:{person}")
        assert ledger.balance(session, temporary.id) == yuan(960)
        assert service.individual_account_balance(session, person) == 0


def test_the_same_woman_moving_to_her_hukou_city_moves_her_fund(
    node: Node, fixed_clock: clock.FixedClock
) -> None:
    with node.transaction() as session:
        person = enrol(session, WOMAN_44, "王芳")
        case = service.open_transfer(
            session, person, role=PensionRole.NEW_CITY, other_city_code=YANTAI, actor="t"
        )
        service.apply_snapshot(session, YANTAI, _certificate_from_yantai(case, WOMAN_44))
        service.advance(session, case.id, actor="t", hukou_city_code=QINGDAO)
        assert (case.step, case.temporary, case.paying_city_code) == (
            TransferStep.SHEET,
            False,
            QINGDAO,
        )


def test_the_ledger_counts_working_days_left_and_raises_overdue_alerts(
    node: Node, fixed_clock: clock.FixedClock
) -> None:
    with node.transaction() as session:
        person = enrol(session, MAN_30)
        service.open_transfer(
            session, person, role=PensionRole.NEW_CITY, other_city_code=YANTAI, actor="t"
        )
    fixed_clock.set(beijing(dt.date(2025, 3, 27)))
    with node.transaction() as session:
        [row] = service.transfer_ledger(session)
        assert (row.owing_city, row.ours, row.working_days_left, row.overdue) == (
            YANTAI,
            False,
            2,
            False,
        )
        assert service.transfer_ledger(session, overdue_only=True) == []
    fixed_clock.set(beijing(dt.date(2025, 4, 3)))
    with node.transaction() as session:
        [row] = service.transfer_ledger(session, overdue_only=True)
        assert (row.working_days_left, row.overdue) == (-3, True)
        assert (
            row.alert == "参保缴费凭证 of city 370600 was due 2025-03-31: 3 working day(s) overdue"
        )


def test_opening_refuses_bad_requests(node: Node, fixed_clock: clock.FixedClock) -> None:
    with node.transaction() as session:
        person = enrol(session, MAN_30)
        with pytest.raises(InvalidInput):
            service.open_transfer(
                session, person, role=PensionRole.NEW_CITY, other_city_code=QINGDAO, actor="t"
            )
        with pytest.raises(InvalidInput):
            service.open_transfer(
                session, person, role=PensionRole.NEW_CITY, other_city_code="3706", actor="t"
            )
        with pytest.raises(NotFound):
            service.open_transfer(
                session, 9999, role=PensionRole.NEW_CITY, other_city_code=YANTAI, actor="t"
            )
        with pytest.raises(Conflict, match="no contribution years"):
            service.open_transfer(
                session, person, role=PensionRole.OLD_CITY, other_city_code=YANTAI, actor="t"
            )
        service.open_transfer(
            session, person, role=PensionRole.NEW_CITY, other_city_code=YANTAI, actor="t"
        )
        with pytest.raises(Conflict, match="already has an open transfer"):
            service.open_transfer(
                session, person, role=PensionRole.NEW_CITY, other_city_code=RIZHAO, actor="t"
            )


def test_a_step_is_done_only_by_the_city_that_owes_it(
    node: Node, fixed_clock: clock.FixedClock
) -> None:
    with node.transaction() as session:
        person = enrol(session, WOMAN_44)
        case = service.open_transfer(
            session, person, role=PensionRole.NEW_CITY, other_city_code=YANTAI, actor="t"
        )
        with pytest.raises(Conflict, match="waits for city 370600"):
            service.advance(session, case.id, actor="t")
        service.apply_snapshot(session, YANTAI, _certificate_from_yantai(case, WOMAN_44))
        case_id, history = case.id, list(case.history)
    with pytest.raises(InvalidInput, match="household registration"), node.transaction() as session:
        service.advance(session, case_id, actor="t")
    with pytest.raises(InvalidInput), node.transaction() as session:
        service.advance(session, case_id, actor="t", hukou_city_code="37")
    with node.transaction() as session:
        case = service.get_case(session, case_id)
        assert (case.step, case.history) == (TransferStep.LETTER, history)


def test_a_snapshot_that_does_not_fit_is_refused(node: Node, fixed_clock: clock.FixedClock) -> None:
    with node.transaction() as session:
        person = enrol(session, WOMAN_44)
        case = service.open_transfer(
            session, person, role=PensionRole.NEW_CITY, other_city_code=YANTAI, actor="t"
        )
        good = _certificate_from_yantai(case, WOMAN_44)
        with pytest.raises(Conflict, match="skips a step"):
            service.apply_snapshot(
                session, YANTAI, {**good, "step": "receipt", "sheet_on": "2025-03-11"}
            )
        with pytest.raises(InvalidInput):
            service.apply_snapshot(session, RIZHAO, good)  # not a party to the case
        with pytest.raises(InvalidInput):
            service.apply_snapshot(
                session,
                YANTAI,
                {
                    **good,
                    "years": [{"year": 2024, "months": 14, "monthly_base": 1, "city_code": YANTAI}],
                },
            )
        with pytest.raises(InvalidInput):
            service.apply_snapshot(session, YANTAI, {**good, "individual_account": -1})
        with pytest.raises(NotFound, match="enrol"):
            service.apply_snapshot(
                session, YANTAI, {**good, "case_ref": str(uuid.uuid4()), "id_number": MAN_30}
            )
        assert case.step is TransferStep.CERTIFICATE
        assert session.scalar(select(func.count()).select_from(PensionTransfer)) == 1


def test_a_contribution_year_is_recorded_once_per_city(
    node: Node, fixed_clock: clock.FixedClock
) -> None:
    with node.transaction() as session:
        person = enrol(session, MAN_30)
        row = service.record_contribution(
            session, person, year=2005, months=12, monthly_base=yuan(2000), actor="t"
        )
        assert row.credited == yuan(2640)  # 11 % before 2006
        with pytest.raises(Conflict):
            service.record_contribution(
                session, person, year=2005, months=1, monthly_base=yuan(2000), actor="t"
            )
        with pytest.raises(InvalidInput):
            service.record_contribution(
                session, person, year=2026, months=1, monthly_base=yuan(2000), actor="t"
            )
        with pytest.raises(InvalidInput):
            service.record_contribution(
                session, person, year=2006, months=1, monthly_base=0, actor="t"
            )
        assert service.individual_account_balance(session, person) == yuan(2640)
