"""Pension transfer demo data: contribution years and transfer cases at every step.

The other cities' steps are applied as the snapshots their nodes would send (the same path as an
imported packet), so every case went through the real rules; one case is left overdue.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from yikatong.core import clock
from yikatong.core.ids import age_on
from yikatong.node import Node
from yikatong.pensions import rules, service
from yikatong.pensions.models import PensionRole, TransferStep
from yikatong.registry import service as registry

# 烟台 潍坊 威海 日照 济南: the cities the demo's people move to or come from.
OTHER_CITIES = ("370600", "370700", "371000", "371100", "370100", "370200")
ACTOR = "demo"


def _at(day: dt.date) -> dt.datetime:
    """10:00 Beijing time on ``day``."""
    return dt.datetime(day.year, day.month, day.day, 2, 0, tzinfo=dt.UTC)


def _record(rng: random.Random, last_year: int, city: str) -> list[rules.ContributionYear]:
    first = last_year - rng.randint(4, 14)
    base = rng.randint(3500, 7000) * 100
    years = []
    for year in range(first, last_year + 1):
        base = base * rng.randint(102, 108) // 100
        years.append(rules.ContributionYear(year, 12, base, city))
    return years


def demo_clock(today: dt.date, days_ago: int) -> Any:
    return clock.clock_override(clock.FixedClock(_at(today - dt.timedelta(days=days_ago))))


class _Demo:
    def __init__(self, node: Node, today: dt.date) -> None:
        self.node = node
        self.today = today

    def on(self, days_ago: int) -> clock.FixedClock:
        return clock.FixedClock(_at(self.today - dt.timedelta(days=days_ago)))

    def day(self, days_ago: int) -> str:
        return (self.today - dt.timedelta(days=days_ago)).isoformat()

    def open(self, resident_id: int, role: PensionRole, city: str, days_ago: int) -> int:
        with clock.clock_override(self.on(days_ago)), self.node.transaction() as session:
            return service.open_transfer(
                session, resident_id, role=role, other_city_code=city, actor=ACTOR
            ).id

    def advance(self, case_id: int, days_ago: int, hukou: str | None = None) -> None:
        with clock.clock_override(self.on(days_ago)), self.node.transaction() as session:
            service.advance(session, case_id, actor=ACTOR, hukou_city_code=hukou)

    def other_side(self, case_id: int, days_ago: int, **changes: Any) -> None:
        """The other city's step, applied as its snapshot would arrive."""
        with clock.clock_override(self.on(days_ago)), self.node.transaction() as session:
            case = service.get_case(session, case_id)
            body = service.snapshot(session, case, actor=ACTOR, staff_role="clerk")
            body.update(changes)
            service.apply_snapshot(session, service.other_city(case), body)

    def certificate_from(
        self, case_id: int, city: str, days_ago: int, years: list[rules.ContributionYear], ia: int
    ) -> None:
        fund = service.fund_figure(ia, years)
        self.other_side(
            case_id, days_ago, step="letter", certificate_on=self.day(days_ago),
            years=service.years_json(years), individual_account=fund.individual_account,
            pooled=fund.pooled,
        )  # fmt: skip


def seed_demo(node: Node, rng: random.Random) -> dict[str, int]:
    own = node.city_code
    others = [c for c in OTHER_CITIES if c != own]
    today = clock.today()
    with node.transaction() as session:
        residents = registry.search_residents(session, limit=500)
    adults = [r for r in residents if 25 <= age_on(r.birth_date, today) <= 48]
    older_women = [r.id for r in residents if r.sex == "F" and 42 <= age_on(r.birth_date, today) <= 55]  # fmt: skip
    if len(adults) < 6 or not older_women:
        return {}
    chosen = [r.id for r in rng.sample(adults, 6)]
    women = [r for r in older_women if r not in chosen]
    if not women:
        return {}
    out_now, out_issued, out_done, in_overdue, in_letter, in_done = chosen
    in_temp = rng.choice(women)
    figures = {"contribution_years": 0}
    with demo_clock(today, 60), node.transaction() as session:
        for resident_id in (out_now, out_issued, out_done):
            for year in _record(rng, today.year - 1, own):
                service.record_contribution(
                    session,
                    resident_id,
                    year=year.year,
                    months=year.months,
                    monthly_base=year.monthly_base,
                    actor=ACTOR,
                )
                figures["contribution_years"] += 1
    demo = _Demo(node, today)
    # Out (转出): just opened; certificate issued, the contact letter awaited; completed.
    demo.open(out_now, PensionRole.OLD_CITY, others[0], 1)
    issued = demo.open(out_issued, PensionRole.OLD_CITY, others[1], 6)
    demo.advance(issued, 4)
    done = demo.open(out_done, PensionRole.OLD_CITY, others[2], 40)
    demo.advance(done, 38)
    demo.other_side(
        done, 30, step="sheet", letter_on=demo.day(30), hukou_city_code=others[2],
        temporary=False, paying_city_code=others[2],
    )  # fmt: skip
    demo.advance(done, 25)
    demo.other_side(done, 20, step="completed", receipt_on=demo.day(20))
    # In (转入): the old city never sent the certificate (overdue); the certificate came and our
    # contact letter is due; the fund was received; a temporary account (woman over 40).
    demo.open(in_overdue, PensionRole.NEW_CITY, others[0], 45)
    waiting = demo.open(in_letter, PensionRole.NEW_CITY, others[1], 12)
    demo.certificate_from(waiting, others[1], 9, _record(rng, today.year - 1, others[1]), rng.randint(20_000, 90_000) * 100)  # fmt: skip
    received = demo.open(in_done, PensionRole.NEW_CITY, others[3], 30)
    demo.certificate_from(received, others[3], 26, _record(rng, today.year - 1, others[3]), rng.randint(20_000, 90_000) * 100)  # fmt: skip
    demo.advance(received, 22, hukou=own)
    case_sheet = demo.day(15)
    with node.transaction() as session:
        case = service.get_case(session, received)
        ia, pooled = case.individual_account, case.pooled
    demo.other_side(
        received, 15, step="receipt", sheet_on=case_sheet, individual_account=ia, pooled=pooled
    )
    demo.advance(received, 12)
    temporary = demo.open(in_temp, PensionRole.NEW_CITY, others[1], 10)
    demo.certificate_from(temporary, others[1], 8, _record(rng, today.year - 1, others[1]), rng.randint(20_000, 60_000) * 100)  # fmt: skip
    demo.advance(temporary, 6, hukou=others[4])
    with node.transaction() as session:
        rows = service.transfer_ledger(session)
    figures["transfer_cases"] = len(rows)
    figures["completed"] = sum(1 for r in rows if r.case.step is TransferStep.COMPLETED)
    figures["temporary_accounts"] = sum(1 for r in rows if r.case.step is TransferStep.TEMPORARY)
    figures["overdue"] = sum(1 for r in rows if r.overdue)
    return figures
