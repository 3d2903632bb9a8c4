"""Pension transfer between cities (养老保险关系转移接续): cases, fund, packets and the 台账.

A case has four steps, each owed by one city and due ``step_working_days`` working days after the
step before it (人社部发〔2016〕5号):

1. 参保缴费凭证 — the old city certifies the contribution years and the individual account;
2. 联系函 — the new city accepts the transfer (or opens a temporary account, 临时账户, and the
   case ends there with the relation kept in the old city);
3. 信息表 + fund — the old city sends the sheet and moves the fund (individual account balance +
   pooled part) to the clearing account of the new city, as ledger transfers;
4. receipt — the new city takes the fund from the clearing account into its pooled fund and the
   person's individual account and recognises the years.

Both cities keep the case under one ``case_ref``. After every step this node sends the other city
a snapshot of the case (payload ``pension.transfer.case``) through the outbox; the receiving node
applies it with :func:`apply_snapshot`, which only ever moves the case forward by the step the
sender owed, so a replayed or stale snapshot changes nothing. The same snapshots travel as a
signed packet file of unfinished cases (未结业务数据包, :func:`export_packet` /
:func:`import_packet`) for cities exchanging them on a schedule.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.core import clock, outbox
from yikatong.core.calendar import working_days_between
from yikatong.core.errors import Conflict, DomainError, InvalidInput, NotFound
from yikatong.core.ids import Sex
from yikatong.core.money import Fen, format_yuan
from yikatong.crypto.keyring import TrustList
from yikatong.federation import service as federation_service
from yikatong.federation.envelope import Envelope, format_time, parse_time
from yikatong.federation.league import LeagueInvalid, canonical_json
from yikatong.ledger import service as ledger
from yikatong.ledger.models import AccountKind
from yikatong.ledger.service import TransferRequest
from yikatong.pensions import rules
from yikatong.pensions.models import (
    OPEN_STEPS,
    PensionContribution,
    PensionRole,
    PensionTransfer,
    TransferStep,
)
from yikatong.pensions.policy import PensionPolicy, TransferRules, load_pension_policy
from yikatong.registry import service as registry

STREAM = "pension-transfer"
CASE_PAYLOAD = "pension.transfer.case"
PACKET_FORMAT = "yikatong.pension-transfer-packet"
PACKET_VERSION = 1
_STEP_ORDER = {
    TransferStep.CERTIFICATE: 0,
    TransferStep.LETTER: 1,
    TransferStep.SHEET: 2,
    TransferStep.TEMPORARY: 2,
    TransferStep.RECEIPT: 3,
    TransferStep.COMPLETED: 4,
}


class PacketRefused(DomainError):
    """A packet file that is malformed, not for this city, unsigned, tampered or signed by a key
    this node does not trust."""

    status = 422
    slug = "packet-refused"
    title = "Packet refused"
    exit_code = 8

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


def _own_city() -> str:
    return current_node.current().city_code


def policy(on: dt.date | None = None) -> PensionPolicy:
    node = current_node.current()
    return load_pension_policy((on or clock.today()).year, allow_illustrative=node.settings.demo)


def _rules() -> TransferRules:
    return policy().transfer


def _city(value: str, field: str) -> str:
    value = value.strip()
    if len(value) != 6 or not value.isdigit():
        raise InvalidInput("a city code is 6 digits (GB/T 2260)", field=field)
    return value


# --------------------------------------------------------------------------- ledger accounts


def _account(session: Session, code: str, kind: AccountKind, name: str) -> int:
    return ledger.open_account(session, code=code, kind=kind, name=name, exist_ok=True).id


def individual_account(session: Session, resident_id: int) -> int:
    """The ledger account of a resident's pension individual account (个人账户) in this city."""
    return _account(session, f"pension:ia:{resident_id}", AccountKind.LIABILITY, "养老保险个人账户")


def temporary_account(session: Session, resident_id: int) -> int:
    """The temporary contribution account (临时基本养老保险缴费账户) of a resident."""
    return _account(
        session, f"pension:temp:{resident_id}", AccountKind.LIABILITY, "养老保险临时缴费账户"
    )


def pooled_fund_account(session: Session) -> int:
    city = _own_city()
    return _account(session, f"pension:pool:{city}", AccountKind.LIABILITY, "养老保险统筹基金")


def _contributions_account(session: Session) -> int:
    city = _own_city()
    return _account(
        session, f"pension:contributions:{city}", AccountKind.CLEARING, "养老保险费征收"
    )


def clearing_account(session: Session, other_city: str) -> int:
    """Money in transit to or from ``other_city`` (转移基金往来)."""
    return _account(
        session, f"pension:transfer:{other_city}", AccountKind.CLEARING, "养老保险转移基金往来"
    )


def individual_account_balance(session: Session, resident_id: int) -> Fen:
    return ledger.balance(session, individual_account(session, resident_id))


# --------------------------------------------------------------------------- contributions


def _temporary_case(session: Session, resident_id: int) -> PensionTransfer | None:
    return session.scalar(
        select(PensionTransfer).where(
            PensionTransfer.resident_id == resident_id,
            PensionTransfer.role == PensionRole.NEW_CITY,
            PensionTransfer.step == TransferStep.TEMPORARY,
        )
    )


def record_contribution(
    session: Session, resident_id: int, *, year: int, months: int, monthly_base: int, actor: str
) -> PensionContribution:
    """Record a year of contributions paid in this city and credit the individual account (or,
    for someone with a temporary account here, the temporary account) at the year's rate."""
    registry.get_resident(session, resident_id)
    city = _own_city()
    if year > clock.today().year:
        raise InvalidInput(f"{year} is in the future", field="year")
    [item] = rules.check_years([rules.ContributionYear(year, months, monthly_base, city)])
    if monthly_base <= 0:
        raise InvalidInput("the monthly wage base must be positive", field="monthly_base")
    same_year = list(
        session.scalars(
            select(PensionContribution).where(
                PensionContribution.resident_id == resident_id, PensionContribution.year == year
            )
        )
    )
    if any(row.city_code == city for row in same_year):
        raise Conflict(f"resident {resident_id} already has contributions for {year} in {city}")
    rules.check_years(
        [
            item,
            *(
                rules.ContributionYear(r.year, r.months, r.monthly_base, r.city_code)
                for r in same_year
            ),
        ]
    )
    credit = rules.individual_account_credits([item], _rules())
    target = (
        temporary_account(session, resident_id)
        if _temporary_case(session, resident_id) is not None
        else individual_account(session, resident_id)
    )
    transfer_id = None
    if credit > 0:
        transfer_id = ledger.post_transfer(
            session,
            TransferRequest(
                idempotency_key=f"pension:contribution:{city}:{resident_id}:{year}",
                debit_account_id=_contributions_account(session),
                credit_account_id=target,
                amount=credit,
                metadata={"pension": "individual_account_credit", "year": year},
            ),
        ).id
    row = PensionContribution(
        resident_id=resident_id,
        year=year,
        months=months,
        monthly_base=monthly_base,
        city_code=city,
        credited=credit,
        transfer_id=transfer_id,
        recorded_at=clock.now(),
        recorded_by=actor[:64],
    )
    session.add(row)
    session.flush()
    return row


def contribution_years(
    session: Session, resident_id: int, *, city_code: str | None = None
) -> list[rules.ContributionYear]:
    """The resident's contribution years known here, oldest first (recognised ones included)."""
    query = select(PensionContribution).where(PensionContribution.resident_id == resident_id)
    if city_code is not None:
        query = query.where(PensionContribution.city_code == city_code)
    rows = session.scalars(query.order_by(PensionContribution.year, PensionContribution.id))
    return [rules.ContributionYear(r.year, r.months, r.monthly_base, r.city_code) for r in rows]


def contributions_of(session: Session, resident_id: int) -> list[PensionContribution]:
    registry.get_resident(session, resident_id)
    return list(
        session.scalars(
            select(PensionContribution)
            .where(PensionContribution.resident_id == resident_id)
            .order_by(PensionContribution.year, PensionContribution.id)
        )
    )


def years_json(years: list[rules.ContributionYear]) -> list[dict[str, Any]]:
    return [
        {
            "year": y.year,
            "months": y.months,
            "monthly_base": y.monthly_base,
            "city_code": y.city_code,
        }
        for y in years
    ]


def years_of(items: Any) -> list[rules.ContributionYear]:
    if not isinstance(items, list):
        raise InvalidInput("years must be a list", field="years")
    years = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidInput("each year is an object", field="years")
        values = [item.get(name) for name in ("year", "months", "monthly_base")]
        city = item.get("city_code")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values) or not (
            isinstance(city, str)
        ):
            raise InvalidInput(
                "each year needs integer year, months, monthly_base and a city_code", field="years"
            )
        years.append(
            rules.ContributionYear(
                int(item["year"]), int(item["months"]), int(item["monthly_base"]), city
            )
        )
    return rules.check_years(years)


# --------------------------------------------------------------------------- cases


def get_case(session: Session, case_id: int, *, lock: bool = False) -> PensionTransfer:
    """A case; ``lock`` holds its row until commit (two clerks cannot do one step twice)."""
    case = session.get(PensionTransfer, case_id, with_for_update=lock)
    if case is None:
        raise NotFound(f"no pension transfer case {case_id}; list them with 'ykt transfer ledger'")
    return case


def _open_case_of(session: Session, resident_id: int) -> PensionTransfer | None:
    return session.scalar(
        select(PensionTransfer).where(
            PensionTransfer.resident_id == resident_id, PensionTransfer.step.in_(OPEN_STEPS)
        )
    )


def other_city(case: PensionTransfer) -> str:
    return case.new_city_code if case.role is PensionRole.OLD_CITY else case.old_city_code


def owing_city(case: PensionTransfer) -> str | None:
    """The city that owes the current step (None once the case is finished)."""
    owner = case.step.owner
    if owner is None:
        return None
    return case.old_city_code if owner is PensionRole.OLD_CITY else case.new_city_code


def _note(case: PensionTransfer, text: str) -> None:
    case.history = [*case.history, f"{clock.today()}: {text}"]
    case.updated_at = clock.now()


def open_transfer(
    session: Session,
    resident_id: int,
    *,
    role: PensionRole,
    other_city_code: str,
    actor: str,
    staff_role: str = "clerk",
) -> PensionTransfer:
    """Open a transfer case for a resident of this city's registry.

    ``role`` is this city's side: ``old_city`` when the person asks here for the contribution
    certificate (转出), ``new_city`` when the person asks here to bring the relation in (转入),
    which asks the old city for the certificate. Either way the certificate is due first.
    """
    other = _city(other_city_code, "other_city_code")
    own = _own_city()
    if other == own:
        raise InvalidInput(
            f"city {other} is this city; a transfer is between cities", field="other_city_code"
        )
    registry.get_resident(session, resident_id)
    existing = _open_case_of(session, resident_id)
    if existing is not None:
        raise Conflict(
            f"resident {resident_id} already has an open transfer (case {existing.id}, "
            f"{existing.step.label})",
            case_id=existing.id,
        )
    if role is PensionRole.OLD_CITY and not contribution_years(session, resident_id, city_code=own):
        raise Conflict(
            f"resident {resident_id} has no contribution years in {own}: nothing to transfer out"
        )
    today = clock.today()
    old, new = (own, other) if role is PensionRole.OLD_CITY else (other, own)
    now = clock.now()
    case = PensionTransfer(
        case_ref=str(uuid.uuid4()),
        role=role,
        step=TransferStep.CERTIFICATE,
        resident_id=resident_id,
        old_city_code=old,
        new_city_code=new,
        opened_on=today,
        due_on=rules.step_due(today, _rules()),
        years=[],
        transfer_ids=[],
        messages=[],
        history=[],
        created_at=now,
        created_by=actor[:64],
        updated_at=now,
    )
    _note(
        case,
        f"opened by {actor[:40]} ({old} → {new}); the certificate (参保缴费凭证) of city {old} "
        f"is due {case.due_on}",
    )
    session.add(case)
    session.flush()
    _send(session, case, actor=actor, staff_role=staff_role)
    return case


def advance(
    session: Session,
    case_id: int,
    *,
    actor: str,
    staff_role: str = "clerk",
    hukou_city_code: str | None = None,
) -> PensionTransfer:
    """Do this city's current step of a case (the step must be owed by this city)."""
    case = get_case(session, case_id, lock=True)
    owner = case.step.owner
    if owner is None:
        raise Conflict(f"case {case_id} is finished ({case.step.label}); nothing to do")
    if owner is not case.role:
        raise Conflict(
            f"case {case_id} waits for city {owing_city(case)} ({case.step.label}); "
            "this city has nothing to do until its packet arrives"
        )
    if hukou_city_code is not None and case.step is not TransferStep.LETTER:
        raise InvalidInput(
            "the household registration place is given with the contact letter only",
            field="hukou_city_code",
        )
    today = clock.today()
    transfer_rules = _rules()
    if case.step is TransferStep.CERTIFICATE:
        _issue_certificate(session, case, today, transfer_rules, actor)
    elif case.step is TransferStep.LETTER:
        if hukou_city_code is None:
            raise InvalidInput(
                "the contact letter needs the household registration place (户籍所在地) city code",
                field="hukou_city_code",
            )
        _send_letter(
            session, case, _city(hukou_city_code, "hukou_city_code"), today, transfer_rules, actor
        )
    elif case.step is TransferStep.SHEET:
        _send_sheet(session, case, today, transfer_rules, actor)
    else:
        _receive_fund(session, case, today, actor)
    session.flush()
    _send(session, case, actor=actor, staff_role=staff_role)
    return case


def _issue_certificate(
    session: Session, case: PensionTransfer, today: dt.date, r: TransferRules, actor: str
) -> None:
    years = contribution_years(session, case.resident_id, city_code=case.old_city_code)
    if not years:
        raise Conflict(
            f"resident {case.resident_id} has no contribution years in {case.old_city_code}; "
            "record them before issuing the certificate"
        )
    fund = rules.transfer_fund(individual_account_balance(session, case.resident_id), years, r)
    case.years = years_json(years)
    case.individual_account = fund.individual_account
    case.pooled = fund.pooled
    case.certificate_on = today
    case.step = TransferStep.LETTER
    case.due_on = rules.step_due(today, r)
    _note(
        case,
        f"参保缴费凭证 issued by {actor[:40]}: {len(years)} year(s), {fund.explain()}; the "
        f"contact letter of city {case.new_city_code} is due {case.due_on}",
    )


def _send_letter(
    session: Session,
    case: PensionTransfer,
    hukou: str,
    today: dt.date,
    r: TransferRules,
    actor: str,
) -> None:
    person = registry.get_resident(session, case.resident_id)
    sex: Sex = "M" if person.sex == "M" else "F"
    decision = rules.temporary_account_decision(
        sex=sex,
        birth_date=person.birth_date,
        on=today,
        new_city_code=case.new_city_code,
        hukou_city_code=hukou,
        rules=r,
    )
    record = [
        *years_of(case.years),
        *contribution_years(session, case.resident_id, city_code=case.new_city_code),
    ]
    record.sort(key=lambda y: y.year)
    paying = rules.pension_paying_city(record, hukou_city_code=hukou, rules=r) if record else None
    case.hukou_city_code = hukou
    case.temporary = decision.temporary
    case.paying_city_code = paying.city_code if paying else None
    case.letter_on = today
    where = f"; pension paid in {paying.city_code} ({paying.reason})" if paying else ""
    if decision.temporary:
        temporary_account(session, case.resident_id)
        case.step = TransferStep.TEMPORARY
        case.due_on = None
        _note(case, f"联系函 by {actor[:40]}: temporary account — {decision.reason}{where}")
        return
    case.step = TransferStep.SHEET
    case.due_on = rules.step_due(today, r)
    _note(
        case,
        f"联系函 sent by {actor[:40]}: {decision.reason}{where}; the information sheet and "
        f"fund of city {case.old_city_code} are due {case.due_on}",
    )


def _post(
    session: Session, key: str, debit: int, credit: int, amount: int, what: str
) -> int | None:
    if amount <= 0:
        return None
    return ledger.post_transfer(
        session,
        TransferRequest(
            idempotency_key=key,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            metadata={"pension": what},
        ),
    ).id


def _send_sheet(
    session: Session, case: PensionTransfer, today: dt.date, r: TransferRules, actor: str
) -> None:
    fund = rules.transfer_fund(
        individual_account_balance(session, case.resident_id), years_of(case.years), r
    )
    clearing = clearing_account(session, case.new_city_code)
    posted = [
        _post(
            session,
            f"pension:{case.case_ref}:out:ia",
            individual_account(session, case.resident_id),
            clearing,
            fund.individual_account,
            "transfer_out_individual_account",
        ),
        _post(
            session,
            f"pension:{case.case_ref}:out:pool",
            pooled_fund_account(session),
            clearing,
            fund.pooled,
            "transfer_out_pooled",
        ),
    ]
    case.transfer_ids = [t for t in posted if t is not None]
    case.individual_account = fund.individual_account
    case.pooled = fund.pooled
    case.sheet_on = today
    case.step = TransferStep.RECEIPT
    case.due_on = rules.step_due(today, r)
    _note(
        case,
        f"信息表 sent and fund transferred by {actor[:40]}: {fund.explain()}; city "
        f"{case.new_city_code} is to receive it by {case.due_on}",
    )


def _receive_fund(session: Session, case: PensionTransfer, today: dt.date, actor: str) -> None:
    ia, pooled = Fen(case.individual_account or 0), Fen(case.pooled or 0)
    clearing = clearing_account(session, case.old_city_code)
    posted = [
        _post(
            session,
            f"pension:{case.case_ref}:in:ia",
            clearing,
            individual_account(session, case.resident_id),
            ia,
            "transfer_in_individual_account",
        ),
        _post(
            session,
            f"pension:{case.case_ref}:in:pool",
            clearing,
            pooled_fund_account(session),
            pooled,
            "transfer_in_pooled",
        ),
    ]
    case.transfer_ids = [t for t in posted if t is not None]
    known = {(y.year, y.city_code) for y in contribution_years(session, case.resident_id)}
    for year in years_of(case.years):
        if (year.year, year.city_code) in known:
            continue
        session.add(
            PensionContribution(
                resident_id=case.resident_id,
                year=year.year,
                months=year.months,
                monthly_base=year.monthly_base,
                city_code=year.city_code,
                credited=0,
                transfer_id=None,
                transfer_case_ref=case.case_ref,
                recorded_at=clock.now(),
                recorded_by=actor[:64],
            )
        )
    case.receipt_on = today
    case.step = TransferStep.COMPLETED
    case.due_on = None
    _note(
        case,
        f"fund received by {actor[:40]}: {rules.TransferFund(ia, pooled).explain()}; "
        f"{len(case.years)} year(s) recognised",
    )


# --------------------------------------------------------------------------- snapshots


def snapshot(
    session: Session, case: PensionTransfer, *, actor: str, staff_role: str
) -> dict[str, Any]:
    """What the other city needs to know of a case (the ID number is revealed, audited)."""
    id_number = registry.reveal(
        session,
        case.resident_id,
        actor=actor,
        role=staff_role,
        fields=("id_number",),
        reason=f"养老保险关系转移: case {case.case_ref} sent to city {other_city(case)}",
    )["id_number"]

    def day(value: dt.date | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "case_ref": case.case_ref,
        "old_city_code": case.old_city_code,
        "new_city_code": case.new_city_code,
        "id_number": id_number,
        "step": case.step.value,
        "opened_on": case.opened_on.isoformat(),
        "certificate_on": day(case.certificate_on),
        "letter_on": day(case.letter_on),
        "sheet_on": day(case.sheet_on),
        "receipt_on": day(case.receipt_on),
        "years": list(case.years),
        "individual_account": case.individual_account,
        "pooled": case.pooled,
        "hukou_city_code": case.hukou_city_code,
        "temporary": case.temporary,
        "paying_city_code": case.paying_city_code,
    }


def _in_league(city: str) -> bool:
    """Whether ``city`` is a member of this node's league, which the outbox can reach.

    A node without a league reaches nobody. A league file that cannot be read right now counts
    as reaching every city: the message waits in the outbox until the file is fixed, as all the
    league's other messages do.
    """
    node = current_node.current()
    if node.settings.league_file is None:
        return False
    try:
        league = federation_service.league_of(node)
    except LeagueInvalid:
        return True
    return league.member(city) is not None


def _send(session: Session, case: PensionTransfer, *, actor: str, staff_role: str) -> None:
    """Tell the other city of the case's new step: through the outbox when it is in this city's
    league; otherwise the case waits for the packet file (``ykt transfer export``), and the
    outbox is not filled with messages that no dispatcher could ever deliver."""
    other = other_city(case)
    if not _in_league(other):
        if not any("packet file" in entry for entry in case.history):  # said once a case
            why = (
                f"city {other} is not in this city's league"
                if current_node.current().settings.league_file is not None
                else "this city is in no league"
            )
            _note(
                case,
                f"{why}: the case travels to {other} in the packet file of unfinished cases "
                f"(ykt transfer export --to {other})",
            )
        session.flush()
        return
    body = snapshot(session, case, actor=actor, staff_role=staff_role)
    message = outbox.enqueue(session, other_city(case), STREAM, CASE_PAYLOAD, body)
    case.messages = [*case.messages, message]
    session.flush()


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"case snapshot: {name} is missing", field=name)
    return value


def _day(body: dict[str, Any], name: str, *, required: bool) -> dt.date | None:
    value = body.get(name)
    if value is None and not required:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"case snapshot: {name} is not a date", field=name) from None


def _amount(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(
            f"case snapshot: {name} must be a non-negative integer (fen)", field=name
        )
    return value


@dataclass(frozen=True)
class Applied:
    case: PensionTransfer
    changed: bool


def apply_snapshot(session: Session, sender: str, body: dict[str, Any]) -> Applied:
    """Apply the other city's view of a case: create it here, or move it forward by the step
    the sender owed. A stale or repeated snapshot changes nothing."""
    own = _own_city()
    case_ref = _text(body, "case_ref")
    try:
        if str(uuid.UUID(case_ref)) != case_ref:
            raise ValueError(case_ref)
    except ValueError:
        raise InvalidInput("case snapshot: case_ref is not a UUID", field="case_ref") from None
    old, new = (
        _city(_text(body, "old_city_code"), "old_city_code"),
        _city(_text(body, "new_city_code"), "new_city_code"),
    )
    if {old, new} != {own, sender} or old == new:
        raise InvalidInput(
            f"case snapshot is between {old} and {new}; it cannot come from {sender} to {own}",
            field="sender",
        )
    try:
        step = TransferStep(_text(body, "step"))
    except ValueError:
        raise InvalidInput("case snapshot: unknown step", field="step") from None
    sender_role = PensionRole.OLD_CITY if sender == old else PensionRole.NEW_CITY
    case = session.scalar(select(PensionTransfer).where(PensionTransfer.case_ref == case_ref))
    if case is None:
        case = _case_from_snapshot(session, body, case_ref, old, new, sender)
        if step is TransferStep.CERTIFICATE:
            return Applied(case, True)
    elif (case.old_city_code, case.new_city_code) != (old, new):
        raise InvalidInput(
            f"case {case_ref} is {case.old_city_code} → {case.new_city_code} here", field="case_ref"
        )
    if _STEP_ORDER[step] <= _STEP_ORDER[case.step]:
        return Applied(case, False)
    if case.step.owner is not sender_role or _STEP_ORDER[step] != _STEP_ORDER[case.step] + 1:
        raise Conflict(
            f"case {case_ref} is at {case.step.value} here; a snapshot at {step.value} from "
            f"{sender} skips a step"
        )
    r = _rules()
    if case.step is TransferStep.CERTIFICATE:
        years = years_of(body.get("years"))
        if not years:
            raise InvalidInput("case snapshot: a certificate without years", field="years")
        case.years = years_json(years)
        case.individual_account = _amount(body, "individual_account")
        case.pooled = _amount(body, "pooled")
        case.certificate_on = _day(body, "certificate_on", required=True)
        done = case.certificate_on
        text = f"参保缴费凭证 received from {sender}: {len(years)} year(s)"
    elif case.step is TransferStep.LETTER:
        temporary = body.get("temporary")
        if not isinstance(temporary, bool) or (temporary != (step is TransferStep.TEMPORARY)):
            raise InvalidInput(
                "case snapshot: temporary does not match the step", field="temporary"
            )
        case.temporary = temporary
        case.hukou_city_code = _city(_text(body, "hukou_city_code"), "hukou_city_code")
        paying = body.get("paying_city_code")
        case.paying_city_code = (
            _city(paying, "paying_city_code") if isinstance(paying, str) else None
        )
        case.letter_on = _day(body, "letter_on", required=True)
        done = case.letter_on
        text = f"联系函 received from {sender}" + (
            ": temporary account there, the relation stays here" if temporary else ""
        )
    elif case.step is TransferStep.SHEET:
        case.individual_account = _amount(body, "individual_account")
        case.pooled = _amount(body, "pooled")
        case.sheet_on = _day(body, "sheet_on", required=True)
        done = case.sheet_on
        fund = rules.TransferFund(Fen(case.individual_account), Fen(case.pooled))
        text = f"信息表 received from {sender}; fund sent: {fund.explain()}"
    else:
        case.receipt_on = _day(body, "receipt_on", required=True)
        done = case.receipt_on
        text = f"city {sender} received the fund; the case is closed here"
    assert done is not None
    case.step = step
    case.due_on = rules.step_due(done, r) if step.owner is not None else None
    _note(case, text + (f"; next step due {case.due_on}" if case.due_on else ""))
    session.flush()
    return Applied(case, True)


def _case_from_snapshot(
    session: Session, body: dict[str, Any], case_ref: str, old: str, new: str, sender: str
) -> PensionTransfer:
    person = registry.find_by_id_number(session, _text(body, "id_number"))
    if person is None:
        raise NotFound(
            f"case {case_ref} from city {sender}: no resident with that ID number here; enrol "
            "the person, then replay the message or import the packet again"
        )
    existing = _open_case_of(session, person.id)
    if existing is not None:
        raise Conflict(
            f"case {case_ref} from city {sender}: resident {person.id} already has open case "
            f"{existing.id} ({existing.case_ref})"
        )
    opened = _day(body, "opened_on", required=True)
    assert opened is not None
    now = clock.now()
    case = PensionTransfer(
        case_ref=case_ref,
        role=PensionRole.OLD_CITY if _own_city() == old else PensionRole.NEW_CITY,
        step=TransferStep.CERTIFICATE,
        resident_id=person.id,
        old_city_code=old,
        new_city_code=new,
        opened_on=opened,
        due_on=rules.step_due(opened, _rules()),
        years=[],
        transfer_ids=[],
        messages=[],
        history=[],
        created_at=now,
        created_by=f"city:{sender}",
        updated_at=now,
    )
    _note(
        case,
        f"case opened in city {sender} on {opened} ({old} → {new}); certificate due {case.due_on}",
    )
    session.add(case)
    session.flush()
    return case


def _apply_case_message(session: Session, envelope: Envelope) -> None:
    apply_snapshot(session, envelope.sender, envelope.body)


federation_service.register_handler(CASE_PAYLOAD, _apply_case_message)


# --------------------------------------------------------------------------- packet files


def trust_list() -> TrustList:
    """Keys this node accepts packets from: its own and, in a league, every member city's."""
    node = current_node.current()
    trust = node.own_trust_list()
    if node.settings.league_file is not None:
        for key in federation_service.league_of(node).trust.keys.values():
            trust.add(key)
    return trust


def export_packet(
    session: Session, receiver: str, *, actor: str, staff_role: str = "clerk"
) -> dict[str, Any]:
    """A signed packet of every unfinished case shared with ``receiver`` (未结业务数据包)."""
    receiver = _city(receiver, "receiver")
    own = _own_city()
    if receiver == own:
        raise InvalidInput("a packet goes to another city", field="receiver")
    cases = session.scalars(
        select(PensionTransfer)
        .where(
            PensionTransfer.step.in_(OPEN_STEPS),
            (PensionTransfer.old_city_code == receiver)
            | (PensionTransfer.new_city_code == receiver),
        )
        .order_by(PensionTransfer.id)
    )
    unsigned = {
        "format": PACKET_FORMAT,
        "v": PACKET_VERSION,
        "sender": own,
        "receiver": receiver,
        "created_at": format_time(clock.now()),
        "cases": [snapshot(session, c, actor=actor, staff_role=staff_role) for c in cases],
    }
    key = current_node.current().signing_key()
    unsigned["key_id"] = key.key_id
    signature = key.sign(canonical_json(unsigned))
    return {**unsigned, "signature": signature.hex()}


_PACKET_FIELDS = frozenset(
    {"format", "v", "sender", "receiver", "created_at", "cases", "key_id", "signature"}
)


def verify_packet(data: Any, trust: TrustList, *, own_city: str) -> dict[str, Any]:
    """Check a packet's form, addressee and signature; return it without the signature."""
    if not isinstance(data, dict) or set(data) != _PACKET_FIELDS:
        raise PacketRefused(
            "malformed", f"a packet is a JSON object with the fields {sorted(_PACKET_FIELDS)}"
        )
    if data["format"] != PACKET_FORMAT or data["v"] != PACKET_VERSION:
        raise PacketRefused("malformed", f"not a {PACKET_FORMAT} version {PACKET_VERSION} file")
    if not isinstance(data["cases"], list) or not all(isinstance(c, dict) for c in data["cases"]):
        raise PacketRefused("malformed", "cases must be a list of objects")
    for name in ("sender", "receiver", "key_id", "signature", "created_at"):
        if not isinstance(data[name], str):
            raise PacketRefused("malformed", f"{name} must be a string")
    try:
        parse_time(data["created_at"])
        signature = bytes.fromhex(data["signature"])
        unsigned = {k: v for k, v in data.items() if k != "signature"}
        signed = canonical_json(unsigned)
    except ValueError as exc:
        raise PacketRefused("malformed", f"packet field is invalid: {exc}") from None
    key = trust.get(data["key_id"])
    if key is None or key.city_code != data["sender"]:
        raise PacketRefused(
            "unknown-signer",
            f"key {data['key_id']} is not a trusted key of city {data['sender']}; add the city "
            "to the league file before importing its packets",
        )
    if not key.verify(signed, signature):
        raise PacketRefused("tampered", "the signature does not match the packet's content")
    if data["receiver"] != own_city:
        raise PacketRefused(
            "misrouted", f"the packet is for city {data['receiver']}, this is {own_city}"
        )
    return unsigned


@dataclass
class ImportReport:
    sender: str
    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def import_packet(session: Session, data: Any, *, trust: TrustList | None = None) -> ImportReport:
    """Verify a packet file and apply each case; a case that cannot apply (e.g. the person is
    not enrolled here yet) is listed as refused and the others still apply."""
    packet = verify_packet(data, trust or trust_list(), own_city=_own_city())
    report = ImportReport(sender=packet["sender"])
    for body in packet["cases"]:
        ref = str(body.get("case_ref", "?"))[:36]
        try:
            with session.begin_nested():
                outcome = apply_snapshot(session, packet["sender"], body)
        except DomainError as exc:
            report.refused.append((ref, exc.detail))
            continue
        (report.applied if outcome.changed else report.unchanged).append(ref)
    return report


# --------------------------------------------------------------------------- transfer ledger


@dataclass(frozen=True)
class LedgerRow:
    """One line of the transfer ledger (转移台账)."""

    case: PensionTransfer
    owing_city: str | None
    ours: bool
    working_days_left: int | None
    overdue: bool
    alert: str | None


def ledger_row(case: PensionTransfer, today: dt.date) -> LedgerRow:
    owes = owing_city(case)
    if case.due_on is None or owes is None:
        return LedgerRow(case, None, False, None, False, None)
    left = working_days_between(today, case.due_on)
    overdue = today > case.due_on
    alert = None
    if overdue:
        alert = (
            f"{case.step.label} of city {owes} was due {case.due_on}: "
            f"{-left} working day(s) overdue"
        )
    return LedgerRow(case, owes, case.step.owner is case.role, left, overdue, alert)


def transfer_ledger(
    session: Session, *, overdue_only: bool = False, open_only: bool = False, limit: int = 500
) -> list[LedgerRow]:
    """The transfer ledger, oldest deadline first; ``overdue_only`` keeps the alerts."""
    if not 1 <= limit <= 5000:
        raise InvalidInput("limit must be 1–5000", field="limit")
    query = select(PensionTransfer)
    if overdue_only or open_only:
        query = query.where(PensionTransfer.step.in_(OPEN_STEPS))
    if overdue_only:
        query = query.where(PensionTransfer.due_on < clock.today())
    # Finished cases (no deadline) last, on both backends (they sort NULL differently).
    order = (PensionTransfer.due_on.is_(None), PensionTransfer.due_on, PensionTransfer.id)
    rows = session.scalars(query.order_by(*order).limit(limit))
    today = clock.today()
    return [ledger_row(case, today) for case in rows]


def fund_figure(individual_account: int, years: list[rules.ContributionYear]) -> rules.TransferFund:
    """The transferable fund for a record (a calculator for staff)."""
    return rules.transfer_fund(individual_account, years, _rules())


def describe_amount(amount: int | None) -> str:
    return "-" if amount is None else format_yuan(amount)
