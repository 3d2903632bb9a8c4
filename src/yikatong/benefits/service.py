"""Use cases of benefit disbursement (一卡通发): programme → batch → person → account → bank.

The monthly cycle of a programme:

1. ``generate_batch``: one line per active beneficiary for the month (the deceased are left out,
   a person already in a batch for that programme and month is never drawn again) plus the failed
   lines of earlier batches, re-queued as a new attempt;
2. ``approve_batch`` by a second clerk (maker–checker, 复核): each line moves its amount from the
   programme budget to the programme's payable account;
3. ``export_bank_file``: the CSV the bank pays from (format below), bank accounts revealed from
   the registry and audited as the system actor;
4. ``import_return_file``: the bank's answer per line, paid (payable → bank clearing) or failed
   (the approval is reversed, the money is back in the budget). A bad file is refused whole with
   its line numbers; the same file twice changes nothing;
5. failed lines are re-queued by the next ``generate_batch`` or stopped (``stop_line``);
6. ``reconcile_batch``: generated = paid + failed + pending, to the fen, checked against the ledger.

Every ledger transfer carries the key ``benefits:line:<line id>:<step>``, so a re-run or a
re-imported file finds the transfer already posted and never pays twice.

A city's pension batch holds millions of lines, so steps 1–3 are set-based SQL: the lines are
drawn up by one ``INSERT … SELECT`` (ids and references included), the approval is a ledger
fan-out (one transfer per line, budget → payable, by ``INSERT … SELECT``) linked back to the
lines by key, and the bank file streams the lines with their accounts revealed along the query
(one audit entry per person, written by one statement). Only decrypting the accounts and
writing the file's rows happen per line in Python.

Bank file (``export_bank_file``), UTF-8 CSV, comma separated, no quoting needed::

    H,<batch id>,<programme code>,<period YYYY-MM>,<value date YYYY-MM-DD>,<count>,<total fen>
    D,<line id>,<masked name>,<bank account>,<amount fen>,<reference>
    …

Return file (``import_return_file``), UTF-8 CSV with this header row, one row per line paid or
failed (lines not in the file stay pending)::

    line_id,amount_fen,status,bank_reference,reason
    17,300000,paid,CB20250310000017,
    18,300000,failed,,account closed
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from yikatong import node as current_node
from yikatong import parallel
from yikatong.benefits.models import (
    Arrear,
    BatchStatus,
    Beneficiary,
    BeneficiaryStatus,
    BenefitProgramme,
    FailedDisposition,
    LineStatus,
    PaymentBatch,
    PaymentLine,
    ProgrammeKind,
)
from yikatong.core import calendar, clock, db
from yikatong.core.errors import Conflict, Forbidden, InvalidInput, NotFound, PolicyError
from yikatong.core.money import Fen, format_yuan, parse_yuan
from yikatong.core.policy import load_policy_file, packaged_policy_path
from yikatong.ledger import service as ledger
from yikatong.ledger.models import AccountKind
from yikatong.registry import service as registry

log = logging.getLogger("yikatong.benefits")

# Who reads bank accounts for the bank file: the platform itself, audited under this name.
SYSTEM_ACTOR = "system:benefits"
_SYSTEM_ROLE = "admin"
BANK_CLEARING_CODE = "benefits:bank-clearing"
RETURN_HEADER = ("line_id", "amount_fen", "status", "bank_reference", "reason")
RETURN_FILE_MAX_BYTES = 50 * 1024 * 1024
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_BANK_REF = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_POLICY_CITY = "qingdao"


# --------------------------------------------------------------------------- policy


def _yuan(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a yuan amount such as 3000 or 2966.84")
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        fen = parse_yuan(text)
    except InvalidInput as exc:
        raise ValueError(exc.detail) from None
    if fen <= 0:
        raise ValueError("must be positive")
    return fen


class ProgrammePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    amount: int = Field(description="fen per person and payment (yuan in the YAML)")
    pay_day: StrictInt = Field(ge=1, le=28)
    months: list[StrictInt] = Field(min_length=1, max_length=12)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_in_yuan(cls, value: object) -> int:
        return _yuan(value)

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[int]) -> list[int]:
        if any(not 1 <= m <= 12 for m in value) or len(set(value)) != len(value):
            raise ValueError("months are distinct numbers 1–12")
        return sorted(value)


class ProgrammePolicies(BaseModel):
    """One entry per programme kind, each required."""

    model_config = ConfigDict(extra="forbid")

    basic_pension: ProgrammePolicy
    unemployment_benefit: ProgrammePolicy
    subsidy: ProgrammePolicy
    one_child_reward: ProgrammePolicy
    veterans_benefit: ProgrammePolicy
    hardship_aid: ProgrammePolicy

    def of(self, kind: ProgrammeKind) -> ProgrammePolicy:
        rule: ProgrammePolicy = getattr(self, kind.value)
        return rule


class BenefitsPolicy(BaseModel):
    """A city-year file ``policies/<city>/benefits-<year>.yaml``; every programme is required."""

    model_config = ConfigDict(extra="forbid")

    city: str
    city_code: str = Field(pattern=r"^\d{6}$")
    year: StrictInt
    programmes: ProgrammePolicies


def benefits_policy_path(year: int) -> str:
    """The packaged policy in force in ``year``: the newest file of that year or before."""
    for candidate in range(year, year - 30, -1):
        path = packaged_policy_path(_POLICY_CITY, f"benefits-{candidate}.yaml")
        if path.exists():
            return str(path)
    raise PolicyError(f"no benefits policy of {_POLICY_CITY} for {year} or any earlier year")


def load_benefits_policy(year: int, *, allow_illustrative: bool) -> BenefitsPolicy:
    return load_policy_file(
        Path(benefits_policy_path(year)), BenefitsPolicy, allow_illustrative=allow_illustrative
    )


# --------------------------------------------------------------------------- helpers


def parse_month(text: str, *, field: str = "month") -> dt.date:
    """``"2025-03"`` → 2025-03-01."""
    match = _MONTH.match(text.strip())
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
        raise InvalidInput(f"{text!r} is not a month; write YYYY-MM, e.g. 2025-03", field=field)
    return dt.date(int(match[1]), int(match[2]), 1)


# Characters for which a CSV field is quoted; a name may hold one, a bank account never does.
_CSV_SPECIAL = frozenset(',"\r\n')


def _csv_line(fields: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()


def mask_name(name: str) -> str:
    """``王小明 → 王*明``, ``李四 → 李*``: enough for the bank to recognise, not to read."""
    length = len(name)
    if length <= 2:
        return name[:1] + "*" * (length - 1)
    return name[0] + "*" * (length - 2) + name[-1]


def _value_date(period: dt.date, pay_day: int) -> dt.date:
    """The pay day of the month, moved back to a working day (banks credit on working days)."""
    day = period.replace(day=pay_day)
    while not calendar.is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


_LINE_KEY = "benefits:line:"  # + line id + ":" + step: the ledger key of a line's step


def _key(line_id: int, step: str) -> str:
    return f"{_LINE_KEY}{line_id}:{step}"


def _bank_clearing(session: Session) -> int:
    return ledger.open_account(
        session,
        code=BANK_CLEARING_CODE,
        kind=AccountKind.BANK,
        name="benefit payments: fund bank account 社保基金支出户",
        owner_type="benefits",
        owner_id="bank",
        exist_ok=True,
    ).id


# --------------------------------------------------------------------------- programmes


def add_programme(
    session: Session,
    *,
    code: str,
    kind: ProgrammeKind,
    actor: str,
    name: str | None = None,
    amount: int | None = None,
    allow_illustrative: bool = False,
) -> BenefitProgramme:
    """Open a programme with its ledger accounts; defaults from the benefits policy file.

    An explicit ``amount`` (fen) replaces the policy default; the schedule (pay day, months)
    always comes from the policy.
    """
    code = code.strip()
    if not _CODE.match(code):
        raise InvalidInput(
            "a programme code is 2–32 lower-case letters, digits or '-', e.g. pension-2025",
            field="code",
        )
    if amount is not None and amount <= 0:
        raise InvalidInput("the amount must be positive", field="amount")
    if name is not None and not 1 <= len(name.strip()) <= 64:
        raise InvalidInput("a programme name is 1–64 characters", field="name")
    if session.scalar(select(BenefitProgramme.id).where(BenefitProgramme.code == code)):
        raise Conflict(f"programme {code} already exists; list them with `ykt benefits programme`")
    year = clock.today().year
    policy = load_benefits_policy(year, allow_illustrative=allow_illustrative)
    rule = policy.programmes.of(kind)
    budget = ledger.open_account(
        session,
        code=f"benefits:{code}:budget",
        kind=AccountKind.SUBSIDY_BUDGET,
        name=f"{rule.name} budget",
        owner_type="benefit_programme",
        owner_id=code,
    )
    payable = ledger.open_account(
        session,
        code=f"benefits:{code}:payable",
        kind=AccountKind.LIABILITY,
        name=f"{rule.name} approved, not yet paid",
        owner_type="benefit_programme",
        owner_id=code,
    )
    _bank_clearing(session)
    programme = BenefitProgramme(
        code=code,
        kind=kind,
        name=(name or rule.name).strip(),
        amount=amount if amount is not None else rule.amount,
        pay_day=rule.pay_day,
        months=",".join(str(m) for m in rule.months),
        policy_source=f"{_POLICY_CITY}/benefits-{policy.year}.yaml",
        budget_account_id=budget.id,
        payable_account_id=payable.id,
        created_at=clock.now(),
        created_by=actor[:64],
    )
    session.add(programme)
    session.flush()
    return programme


def get_programme(session: Session, programme_id: int) -> BenefitProgramme:
    programme = session.get(BenefitProgramme, programme_id)
    if programme is None:
        raise NotFound(f"no benefit programme with id {programme_id}")
    return programme


def get_programme_by_code(session: Session, code: str) -> BenefitProgramme:
    programme = session.scalar(select(BenefitProgramme).where(BenefitProgramme.code == code))
    if programme is None:
        raise NotFound(f"no benefit programme {code!r}; list them with `ykt benefits programme`")
    return programme


def list_programmes(session: Session) -> list[BenefitProgramme]:
    return list(session.scalars(select(BenefitProgramme).order_by(BenefitProgramme.id)))


def budget_balance(session: Session, programme: BenefitProgramme) -> Fen:
    return ledger.balance(session, programme.budget_account_id)


def fund_programme(
    session: Session, programme_id: int, *, amount: int, reference: str, actor: str
) -> int:
    """Credit the programme budget from the fund's bank account (拨付); returns the transfer id.

    The reference (the appropriation document) makes it idempotent.
    """
    programme = get_programme(session, programme_id)
    if amount <= 0:
        raise InvalidInput("the amount must be positive", field="amount")
    reference = reference.strip()
    if not _BANK_REF.match(reference):
        raise InvalidInput("a funding reference is 1–64 letters, digits or '-'", field="reference")
    transfer = ledger.post_transfer(
        session,
        ledger.TransferRequest(
            idempotency_key=f"benefits:fund:{programme.id}:{reference}",
            debit_account_id=_bank_clearing(session),
            credit_account_id=programme.budget_account_id,
            amount=amount,
            metadata={"programme": programme.code, "reference": reference, "by": actor[:64]},
        ),
    )
    return transfer.id


# --------------------------------------------------------------------------- beneficiaries


def enrol_beneficiary(
    session: Session,
    programme_id: int,
    resident_id: int,
    *,
    actor: str,
    amount: int | None = None,
    first_period: dt.date | None = None,
    last_period: dt.date | None = None,
) -> Beneficiary:
    """Enrol a living resident with a payout account; paid from ``first_period`` on, until
    ``last_period`` when given (a one-off grant: the same month)."""
    programme = get_programme(session, programme_id)
    if amount is not None and amount <= 0:
        raise InvalidInput("the amount must be positive", field="amount")
    first_period = first_period or clock.today().replace(day=1)
    if last_period is not None and last_period < first_period:
        raise InvalidInput(
            f"the last month {last_period:%Y-%m} is before the first {first_period:%Y-%m}",
            field="last_period",
        )
    resident = registry.get_resident(session, resident_id)
    if resident.status == registry.ResidentStatus.DECEASED:
        raise InvalidInput(
            f"resident {resident_id} is recorded as deceased; nobody can be enrolled after death",
            field="resident_id",
        )
    if resident.bank_account_masked is None:
        raise InvalidInput(
            f"resident {resident_id} has no payout account (发放账户); record one first",
            field="resident_id",
        )
    exists = session.scalar(
        select(Beneficiary.id).where(
            Beneficiary.programme_id == programme.id, Beneficiary.resident_id == resident_id
        )
    )
    if exists is not None:
        raise Conflict(f"resident {resident_id} is already a beneficiary of {programme.code}")
    beneficiary = Beneficiary(
        programme_id=programme.id,
        resident_id=resident_id,
        amount=amount,
        first_period=first_period,
        last_period=last_period,
        status=BeneficiaryStatus.ACTIVE,
        created_at=clock.now(),
        created_by=actor[:64],
    )
    session.add(beneficiary)
    session.flush()
    return beneficiary


def find_beneficiary(session: Session, programme_id: int, resident_id: int) -> Beneficiary | None:
    """The resident's enrolment in the programme, if any."""
    return session.scalar(
        select(Beneficiary).where(
            Beneficiary.programme_id == programme_id, Beneficiary.resident_id == resident_id
        )
    )


def stop_payments_of(session: Session, resident_id: int) -> list[Beneficiary]:
    """Stop every active or suspended enrolment of a resident for good (停发, e.g. on death);
    returns those stopped.

    Already stopped enrolments are left as they are, so running it twice stops nothing more.
    Lines already drawn into a batch are not touched: the bank file and return file settle them.
    """
    registry.get_resident(session, resident_id)
    stopped = list(
        session.scalars(
            select(Beneficiary)
            .where(
                Beneficiary.resident_id == resident_id,
                Beneficiary.status.in_([BeneficiaryStatus.ACTIVE, BeneficiaryStatus.SUSPENDED]),
            )
            .order_by(Beneficiary.id)
            .with_for_update()
        )
    )
    for beneficiary in stopped:
        beneficiary.status = BeneficiaryStatus.STOPPED
    session.flush()
    return stopped


def list_beneficiaries(session: Session, programme_id: int) -> list[Beneficiary]:
    get_programme(session, programme_id)
    query = select(Beneficiary).where(Beneficiary.programme_id == programme_id)
    return list(session.scalars(query.order_by(Beneficiary.id)))


# --------------------------------------------------------------------------- batches


def get_batch(session: Session, batch_id: int, *, lock: bool = False) -> PaymentBatch:
    """The batch; ``lock`` holds its row until commit, so two clerks acting on the same batch
    at once are serialised (the ledger keys would refuse a double posting anyway)."""
    batch = session.get(PaymentBatch, batch_id, with_for_update=lock, populate_existing=lock)
    if batch is None:
        raise NotFound(f"no benefit batch with id {batch_id}")
    return batch


def list_batches(session: Session, *, programme_id: int | None = None) -> list[PaymentBatch]:
    query = select(PaymentBatch).order_by(PaymentBatch.id)
    if programme_id is not None:
        query = query.where(PaymentBatch.programme_id == programme_id)
    return list(session.scalars(query))


def batch_lines(session: Session, batch_id: int) -> list[PaymentLine]:
    query = select(PaymentLine).where(PaymentLine.batch_id == batch_id)
    return list(session.scalars(query.order_by(PaymentLine.id)))


_LINE_CHUNK = 10_000


def _reference_prefix(programme_id: int, period: dt.date) -> str:
    return f"YKT{programme_id:04d}{period.year:04d}{period.month:02d}"


def _reference(programme_id: int, period: dt.date, line_id: int) -> str:
    """The bank reference of a line: programme, month and the line's id (10 digits)."""
    return f"{_reference_prefix(programme_id, period)}{line_id:010d}"


def _insert_fresh_lines(
    session: Session, batch: PaymentBatch, fresh: Select[*tuple[Any, ...]]
) -> None:
    """Insert a line for every row of ``fresh`` (beneficiary id, resident id, amount, masked
    bank account) with one ``INSERT … SELECT``, each with its bank reference, which holds the
    line's id.

    The ids are drawn in the statement so that the reference is written with its line:
    PostgreSQL draws them from the table's own sequence; on SQLite this transaction holds the
    write lock (``BEGIN IMMEDIATE``), so the ids after the current maximum stay free until it
    commits (the primary key would refuse a clash).
    """
    rows = fresh.subquery()
    table: Any = PaymentLine.__table__
    postgres = session.get_bind().dialect.name == "postgresql"
    line_id: ColumnElement[int]
    if postgres:
        sequence = session.scalar(
            text("SELECT pg_get_serial_sequence('benefit_payment_line', 'id')")
        )
        line_id = func.nextval(cast(literal(sequence), String))
    else:
        top = int(session.scalar(select(func.coalesce(func.max(PaymentLine.id), 0))) or 0)
        line_id = literal(top) + func.row_number().over(order_by=rows.c.id)
    numbered = select(
        line_id.label("id"), rows.c.resident_id, rows.c.amount, rows.c.bank_account_masked
    ).subquery()
    padded: ColumnElement[str] = (
        func.lpad(cast(numbered.c.id, String), 10, "0")
        if postgres
        else func.printf("%010d", numbered.c.id)
    )
    prefix = _reference_prefix(batch.programme_id, batch.period)
    with db.planned_without(session, "nestloop"):
        session.execute(
            insert(table).from_select(
                [
                    "id",
                    "batch_id",
                    "programme_id",
                    "resident_id",
                    "period",
                    "attempt",
                    "amount",
                    "status",
                    "reference",
                    "bank_account_masked",
                ],
                select(
                    numbered.c.id,
                    literal(batch.id),
                    literal(batch.programme_id),
                    numbered.c.resident_id,
                    literal(batch.period, type_=table.c.period.type),
                    literal(1),
                    numbered.c.amount,
                    literal(LineStatus.PENDING, type_=table.c.status.type),
                    literal(prefix) + padded,
                    numbered.c.bank_account_masked,
                ),
            )
        )


def _line_key(step: str) -> ColumnElement[str]:
    """``_key`` of each payment line, as SQL for set-based statements."""
    return literal(_LINE_KEY) + cast(PaymentLine.id, String) + literal(f":{step}")


def _set_lines(session: Session, where: ColumnElement[bool], column: str, value: Any) -> None:
    """Set one column of the lines ``where`` selects in one ``UPDATE`` (``value`` may be an SQL
    expression over the line); lines loaded in the session see the new value."""
    table: Any = PaymentLine.__table__
    session.flush()
    with db.planned_without(session, "seqscan"):
        session.execute(update(table).where(where).values({column: value}))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, PaymentLine):
            session.expire(obj, [column])


def _alive(session: Session, resident_id: int) -> bool:
    return registry.get_resident(session, resident_id).status == registry.ResidentStatus.ACTIVE


def generate_batch(
    session: Session, programme_id: int, period: dt.date, *, actor: str
) -> PaymentBatch:
    """Draw up the batch of ``period`` (发放批次); ``Conflict`` when there is nobody to pay."""
    programme = get_programme(session, programme_id)
    if period.day != 1:
        raise InvalidInput("a period is the first day of a month", field="month")
    if period.month not in programme.pay_months:
        raise InvalidInput(
            f"{programme.code} pays in months {programme.months} only, not {period:%Y-%m}",
            field="month",
        )
    if period > clock.today().replace(day=1) + dt.timedelta(days=31):
        raise InvalidInput(
            f"{period:%Y-%m} is more than a month ahead; generate it nearer the time",
            field="month",
        )
    value_date = _value_date(period, programme.pay_day)
    # Active beneficiaries of living residents not yet in a batch of the month: the month's
    # lines, drawn up and inserted in SQL (a city's pension batch holds millions of people).
    fresh = (
        select(
            Beneficiary.id,
            Beneficiary.resident_id,
            func.coalesce(Beneficiary.amount, programme.amount).label("amount"),
            registry.Resident.bank_account_masked,
        )
        .join(registry.Resident, registry.Resident.id == Beneficiary.resident_id)
        .where(
            Beneficiary.programme_id == programme.id,
            Beneficiary.status == BeneficiaryStatus.ACTIVE,
            Beneficiary.first_period <= period,
            or_(Beneficiary.last_period.is_(None), Beneficiary.last_period >= period),
            registry.Resident.status == registry.ResidentStatus.ACTIVE,
            ~exists().where(
                PaymentLine.programme_id == programme.id,
                PaymentLine.resident_id == Beneficiary.resident_id,
                PaymentLine.period == period,
            ),
        )
    )
    failed = [
        line
        for line in session.scalars(
            select(PaymentLine)
            .where(
                PaymentLine.programme_id == programme.id,
                PaymentLine.status == LineStatus.FAILED,
                PaymentLine.disposition.is_(None),
            )
            .order_by(PaymentLine.id)
            .with_for_update()
        )
        if _alive(session, line.resident_id)
    ]
    # Months held during a suspension and owed since it was lifted (补发).
    arrears = [
        arrear
        for arrear in session.scalars(
            select(Arrear)
            .join(Beneficiary, Beneficiary.id == Arrear.beneficiary_id)
            .where(
                Arrear.programme_id == programme.id,
                Arrear.line_id.is_(None),
                Beneficiary.status == BeneficiaryStatus.ACTIVE,
            )
            .order_by(Arrear.id)
        )
        if _alive(session, arrear.resident_id)
    ]
    if not failed and not arrears and not session.scalar(select(fresh.exists())):
        raise Conflict(
            f"nothing to pay for {programme.code} in {period:%Y-%m}: every active beneficiary "
            "is already in a batch of that month and no failed line waits to be re-queued",
            programme=programme.code,
            month=f"{period:%Y-%m}",
        )
    now = clock.now()
    batch = PaymentBatch(
        programme_id=programme.id,
        period=period,
        value_date=value_date,
        status=BatchStatus.GENERATED,
        line_count=0,
        total=0,
        created_at=now,
        created_by=actor[:64],
    )
    session.add(batch)
    session.flush()
    lines: list[PaymentLine] = []
    for old in failed:
        old.disposition = FailedDisposition.REQUEUED
        old.disposition_reason = f"re-queued into batch {batch.id}"
        lines.append(
            PaymentLine(
                batch_id=batch.id,
                programme_id=programme.id,
                resident_id=old.resident_id,
                period=old.period,
                attempt=old.attempt + 1,
                amount=old.amount,
                status=LineStatus.PENDING,
                requeued_from_id=old.id,
            )
        )
    owed: list[tuple[Arrear, PaymentLine | int]] = []
    try:
        with session.begin_nested():
            _insert_fresh_lines(session, batch, fresh)
            # A month owed and also due now is paid by the month's own line.
            month_lines: dict[int, int] = {
                resident_id: line_id
                for resident_id, line_id in session.execute(
                    select(PaymentLine.resident_id, PaymentLine.id).where(
                        PaymentLine.batch_id == batch.id,
                        PaymentLine.resident_id.in_(
                            {a.resident_id for a in arrears if a.period == period}
                        ),
                    )
                )
            }
            for arrear in arrears:
                same_month = month_lines.get(arrear.resident_id)
                if arrear.period == period and same_month is not None:
                    owed.append((arrear, same_month))
                    continue
                line = PaymentLine(
                    batch_id=batch.id,
                    programme_id=programme.id,
                    resident_id=arrear.resident_id,
                    period=arrear.period,
                    attempt=1,
                    amount=arrear.amount,
                    status=LineStatus.PENDING,
                )
                lines.append(line)
                owed.append((arrear, line))
            session.add_all(lines)
            session.flush()
    except (IntegrityError, session.get_bind().dialect.loaded_dbapi.IntegrityError):
        raise Conflict(
            f"another batch of {programme.code} for {period:%Y-%m} was generated at the same "
            "time; list the batches and generate again if someone is still missing"
        ) from None
    for arrear, owed_line in owed:
        arrear.line_id = owed_line if isinstance(owed_line, int) else owed_line.id
    for line in lines:
        line.reference = _reference(programme.id, line.period, line.id)
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(PaymentLine.amount), 0)).where(
            PaymentLine.batch_id == batch.id
        )
    ).one()
    batch.line_count = int(count)
    batch.total = int(total)
    if count >= db.ANALYZE_ROWS:
        db.analyze(session, PaymentLine.__tablename__)
    session.flush()
    return batch


def approve_batch(session: Session, batch_id: int, *, actor: str) -> PaymentBatch:
    """Check and approve (复核): a second clerk moves each line from budget to payable."""
    batch = get_batch(session, batch_id, lock=True)
    if actor[:64] == batch.created_by:
        raise Forbidden(
            f"batch {batch.id} was generated by {batch.created_by}; another clerk must approve it "
            "(maker–checker)"
        )
    if batch.status is not BatchStatus.GENERATED:
        raise Conflict(f"batch {batch.id} is {batch.status}, not waiting for approval")
    programme = get_programme(session, batch.programme_id)
    held = budget_balance(session, programme)
    if held < batch.total:
        raise Conflict(
            f"batch {batch.id} cannot be approved: the budget of {programme.code} holds "
            f"{format_yuan(held)} yuan for {format_yuan(batch.total)} — fund it first",
            budget=held,
            total=batch.total,
        )
    of_batch = PaymentLine.batch_id == batch.id
    approve_key = _line_key("approve")
    # One transfer per line, posted in SQL: the batch's lines never pass through Python.
    lines = select(
        approve_key.label("idempotency_key"),
        PaymentLine.amount.label("amount"),
        literal(batch.id).label("batch"),
        PaymentLine.id.label("line"),
        PaymentLine.resident_id.label("resident"),
    ).where(of_batch)
    try:
        posted = ledger.post_fanout(
            session,
            lines,
            debit_account_id=programme.budget_account_id,
            credit_account_id=programme.payable_account_id,
            order_by="line",
        )
    except Conflict as error:
        # The caller's transaction is rolled back by this error: nothing stays posted.
        raise Conflict(f"batch {batch.id} cannot be approved: {error.detail}") from error
    if (posted.count, posted.total) != (batch.line_count, batch.total):
        raise Conflict(
            f"batch {batch.id} holds {posted.count} line(s) for {format_yuan(posted.total)} yuan "
            f"but was drawn up with {batch.line_count} for {format_yuan(batch.total)}; "
            "generate it again"
        )
    # Each line links to its transfer. Where the transfers were numbered in line order and the
    # batch's lines are consecutive (on SQLite, drawn up under the write lock), the link is the
    # line's own id shifted; otherwise each line looks its transfer up by key.
    link: ColumnElement[int] = ledger.transfer_id_by_key(approve_key)
    if posted.first_id is not None:
        low, high = session.execute(
            select(func.min(PaymentLine.id), func.max(PaymentLine.id)).where(of_batch)
        ).one()
        if high - low + 1 == posted.count:
            link = PaymentLine.id + (posted.first_id - low)
    _set_lines(session, of_batch, "approve_transfer_id", link)
    batch.status = BatchStatus.APPROVED
    batch.approved_by = actor[:64]
    batch.approved_at = clock.now()
    session.flush()
    return batch


@dataclass(frozen=True, slots=True)
class BankFile:
    batch_id: int
    count: int
    total: Fen
    text: str


# A bank file of this many lines is read, decrypted and written by worker processes (as many
# as the node's ``export_workers``), in id ranges, while this process writes the audit entries.
# Starting a worker costs ~1.5 s (a fresh interpreter imports the platform); measured on 2 cores,
# 210,000 lines took 4.1 s in one process and 4.7 s with two workers, 2M lines 20.3 s and 12.2 s.
PARALLEL_LINES = 500_000


def export_bank_file(session: Session, batch_id: int, *, actor: str) -> BankFile:
    """The bank file of the lines still pending; bank accounts are revealed, audited."""
    batch = get_batch(session, batch_id, lock=True)
    if batch.status not in (BatchStatus.APPROVED, BatchStatus.EXPORTED):
        raise Conflict(
            f"batch {batch.id} is {batch.status}; only an approved batch goes to the bank"
        )
    programme = get_programme(session, batch.programme_id)
    count, total, first_line, last_line = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(PaymentLine.amount), 0),
            func.min(PaymentLine.id),
            func.max(PaymentLine.id),
        ).where(_pending_of(batch.id))
    ).one()
    period, value_date = f"{batch.period:%Y-%m}", batch.value_date.isoformat()
    header = _csv_line(["H", batch.id, programme.code, period, value_date, count, total])
    reason = f"bank file of benefit batch {batch.id}, exported by {actor}"[:200]
    # Every resident's reveal is audited by one statement; the lines stream, decrypted in turn,
    # with the resident's name and masked account from the same join. A resident found without
    # an account stops the export, and the savepoint takes the audit entries back with it.
    made: _FilePart | None = None
    workers = 0
    if count >= PARALLEL_LINES:
        workers = parallel.available_workers(
            session, current_node.current().settings.export_workers
        )
    if workers:
        made = _bank_file_in_parts(
            session, batch.id, (first_line, last_line), (count, total), reason, workers
        )
    if made is None:
        with session.begin_nested():
            revealed = registry.reveal_rows(
                session,
                _pending_lines(batch.id),
                actor=SYSTEM_ACTOR,
                role=_SYSTEM_ROLE,
                reason=reason,
                fields=["bank_account"],
                plain=["name", "bank_account_masked"],
            )
            made = _write_lines(revealed)
    # A line carries the masked account it was drawn up with; the few whose resident changed
    # account since (or re-queued lines, drawn up without one) are set after.
    table: Any = PaymentLine.__table__
    changed = [{"line_id": line_id, "masked": masked} for line_id, masked in made.moved.items()]
    for first in range(0, len(changed), 5_000):
        session.execute(
            update(table)
            .where(table.c.id == bindparam("line_id"))
            .values(bank_account_masked=bindparam("masked")),
            changed[first : first + 5_000],
        )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, PaymentLine) and obj.id in made.moved:
            session.expire(obj, ["bank_account_masked"])
    batch.status = BatchStatus.EXPORTED
    batch.exported_at = clock.now()
    session.flush()
    return BankFile(batch.id, int(count), Fen(int(total)), header + made.text)


def _pending_of(batch_id: int) -> ColumnElement[bool]:
    return and_(PaymentLine.batch_id == batch_id, PaymentLine.status == LineStatus.PENDING)


def _pending_lines(batch_id: int) -> Select[int, int, int, str | None, str | None]:
    """A batch's pending lines as the bank file reveals them, in line order."""
    return (
        select(
            PaymentLine.resident_id,
            PaymentLine.id,
            PaymentLine.amount,
            PaymentLine.reference,
            PaymentLine.bank_account_masked,
        )
        .where(_pending_of(batch_id))
        .order_by(PaymentLine.id)
    )


@dataclass(frozen=True, slots=True)
class _FilePart:
    """Detail lines of a bank file (all of them, or an id range's), what they add up to, and
    the lines whose resident's masked account is no longer the one they were drawn up with."""

    count: int
    total: int
    text: str
    moved: dict[int, str]


def _write_lines(revealed: Iterator[tuple[Any, ...]]) -> _FilePart:
    out = io.StringIO()
    write = out.write
    moved: dict[int, str] = {}
    count = total = 0
    for resident_id, line_id, amount, reference, on_line, name, masked, account in revealed:
        if account is None:
            raise Conflict(
                f"resident {resident_id} (line {line_id}) has no payout account any "
                "more; record one before exporting"
            )
        if masked != on_line:
            moved[line_id] = masked
        count += 1
        total += amount
        shown = mask_name(name)
        if _CSV_SPECIAL.isdisjoint(shown) and _CSV_SPECIAL.isdisjoint(account):
            # What the csv module writes for fields that need no quotes, ~3× faster.
            write(f"D,{line_id},{shown},{account},{amount},{reference}\n")
        else:
            write(_csv_line(["D", line_id, shown, account, amount, reference]))
    return _FilePart(count, total, out.getvalue(), moved)


def _bank_file_in_parts(
    session: Session,
    batch_id: int,
    lines: tuple[int, int],
    expected: tuple[int, int],
    reason: str,
    workers: int,
) -> _FilePart | None:
    """The detail lines written by worker processes, a range of line ids each, while this
    transaction audits the reveal; ``None`` where the parts do not add up to the ``expected``
    count and total (lines this same transaction drew up, which no worker can see), with the
    audit entries taken back for the caller to export in one process."""
    first, last = lines
    pieces = workers * 2
    step = (last - first) // pieces + 1
    ranges = [(batch_id, low, min(low + step - 1, last)) for low in range(first, last + 1, step)]
    try:
        parts = registry.reveal_in_parts(
            session,
            _pending_lines(batch_id),
            actor=SYSTEM_ACTOR,
            role=_SYSTEM_ROLE,
            reason=reason,
            part=_bank_file_part,
            arguments=ranges,
            workers=workers,
            fields=["bank_account"],
            plain=["name", "bank_account_masked"],
            accept=lambda made: (
                (sum(p.count for p in made), sum(p.total for p in made)) == expected
            ),
        )
    except parallel.WorkersFailed as error:
        # The workers wrote nothing and their audit entries were taken back: one process does it.
        log.warning("bank file of batch %s written in one process: %s", batch_id, error)
        return None
    if parts is None:
        return None
    return _FilePart(
        expected[0],
        expected[1],
        "".join(p.text for p in parts),
        {line: masked for p in parts for line, masked in p.moved.items()},
    )


def _bank_file_part(
    session: Session, grant: registry.RevealGrant, batch_id: int, first: int, last: int
) -> _FilePart:
    """One id range of a bank file's detail lines (run in a worker process)."""
    lines = _pending_lines(batch_id).where(PaymentLine.id.between(first, last))
    return _write_lines(registry.revealed_rows(session, lines, grant))


@dataclass(frozen=True, slots=True)
class ReturnRow:
    number: int
    line_id: int
    amount: int
    status: LineStatus
    bank_reference: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class ReturnOutcome:
    batch_id: int
    paid: int
    failed: int
    unchanged: int
    batch_status: BatchStatus


def _parse_return_file(text: str) -> tuple[list[ReturnRow], list[dict[str, Any]]]:
    problems: list[dict[str, Any]] = []
    rows: list[ReturnRow] = []

    def bad(number: int, field: str, reason: str) -> None:
        problems.append({"line": number, "field": field, "reason": reason})

    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        records = list(reader)
    except csv.Error as exc:
        return [], [{"line": reader.line_num, "field": "file", "reason": f"not CSV: {exc}"}]
    if not records or tuple(c.strip() for c in records[0]) != RETURN_HEADER:
        bad(1, "header", "the first row must be " + ",".join(RETURN_HEADER))
        return [], problems
    for number, record in enumerate(records[1:], start=2):
        if not record or all(not c.strip() for c in record):
            continue
        if len(record) != len(RETURN_HEADER):
            bad(number, "row", f"{len(record)} columns, expected {len(RETURN_HEADER)}")
            continue
        raw_id, raw_amount, raw_status, raw_ref, raw_reason = (c.strip() for c in record)
        if not raw_id.isdigit() or not 1 <= int(raw_id) <= 2_147_483_647:
            bad(number, "line_id", f"{raw_id!r} is not a line id")
            continue
        if not raw_amount.isdigit() or int(raw_amount) <= 0:
            bad(number, "amount_fen", f"{raw_amount!r} is not a positive amount in fen")
            continue
        if raw_status not in (LineStatus.PAID, LineStatus.FAILED):
            bad(number, "status", f"{raw_status!r} is neither paid nor failed")
            continue
        status = LineStatus(raw_status)
        if status is LineStatus.PAID and not _BANK_REF.match(raw_ref):
            bad(number, "bank_reference", "a paid line needs the bank reference (1–64 letters)")
            continue
        if status is LineStatus.FAILED and not raw_reason:
            bad(number, "reason", "a failed line needs the bank's reason")
            continue
        rows.append(
            ReturnRow(
                number,
                int(raw_id),
                int(raw_amount),
                status,
                raw_ref or None,
                raw_reason[:200] or None,
            )
        )
    if not rows and not problems:
        bad(2, "row", "the file holds no payment line")
    return rows, problems


def import_return_file(session: Session, batch_id: int, text: str, *, actor: str) -> ReturnOutcome:
    """Apply the bank's return file (回盘文件); refused whole, with line numbers, if any row is
    wrong. Rows matching what is already recorded change nothing."""
    batch = get_batch(session, batch_id, lock=True)
    if batch.status not in (BatchStatus.EXPORTED, BatchStatus.CLOSED):
        raise Conflict(f"batch {batch.id} is {batch.status}; export its bank file first")
    if len(text.encode()) > RETURN_FILE_MAX_BYTES:
        raise InvalidInput("the return file is larger than 50 MiB", field="file")
    rows, problems = _parse_return_file(text)
    lines = {line.id: line for line in batch_lines(session, batch.id)}
    seen: dict[int, int] = {}
    for row in rows:
        line = lines.get(row.line_id)
        if row.line_id in seen:
            problems.append(
                {
                    "line": row.number,
                    "field": "line_id",
                    "reason": f"line {row.line_id} is already on line {seen[row.line_id]}",
                }
            )
            continue
        seen[row.line_id] = row.number
        if line is None:
            problems.append(
                {
                    "line": row.number,
                    "field": "line_id",
                    "reason": f"line {row.line_id} is not in batch {batch.id}",
                }
            )
            continue
        if row.amount != line.amount:
            problems.append(
                {
                    "line": row.number,
                    "field": "amount_fen",
                    "reason": f"line {line.id} pays {line.amount} fen, the bank says {row.amount}",
                }
            )
            continue
        if line.status is LineStatus.PENDING:
            continue
        same = line.status is row.status and (
            row.status is LineStatus.FAILED or line.bank_reference == row.bank_reference
        )
        if not same:
            problems.append(
                {
                    "line": row.number,
                    "field": "status",
                    "reason": f"line {line.id} is already {line.status}"
                    + (f" ({line.bank_reference})" if line.bank_reference else "")
                    + "; a return file cannot change it",
                }
            )
    if problems:
        problems.sort(key=lambda p: int(p["line"]))
        where = ", ".join(str(p["line"]) for p in problems[:20])
        raise InvalidInput(
            f"return file refused, nothing applied: {len(problems)} problem(s) on line(s) {where}",
            errors=problems,
        )
    programme = get_programme(session, batch.programme_id)
    clearing = _bank_clearing(session)
    now = clock.now()
    paid = failed = unchanged = 0
    for row in rows:
        line = lines[row.line_id]
        if line.status is not LineStatus.PENDING:
            unchanged += 1
            continue
        if line.approve_transfer_id is None:
            raise Conflict(f"line {line.id} was never approved; it cannot be paid")
        if row.status is LineStatus.PAID:
            transfer = ledger.post_transfer(
                session,
                ledger.TransferRequest(
                    idempotency_key=_key(line.id, "paid"),
                    debit_account_id=programme.payable_account_id,
                    credit_account_id=clearing,
                    amount=line.amount,
                    metadata={"batch": batch.id, "line": line.id, "bank": row.bank_reference},
                ),
            )
            line.paid_transfer_id = transfer.id
            line.bank_reference = row.bank_reference
            paid += 1
        else:
            transfer = ledger.reverse_transfer(
                session,
                line.approve_transfer_id,
                idempotency_key=_key(line.id, "failed"),
                reason=f"bank returned line {line.id}: {row.reason}",
            )
            line.reversal_transfer_id = transfer.id
            line.failure_reason = row.reason
            failed += 1
        line.status = row.status
        line.resolved_at = now
    if all(line.status is not LineStatus.PENDING for line in lines.values()):
        batch.status = BatchStatus.CLOSED
    session.flush()
    return ReturnOutcome(batch.id, paid, failed, unchanged, batch.status)


def get_line(session: Session, line_id: int) -> PaymentLine:
    line = session.get(PaymentLine, line_id)
    if line is None:
        raise NotFound(f"no payment line with id {line_id}")
    return line


def stop_line(session: Session, line_id: int, *, reason: str, actor: str) -> PaymentLine:
    """Stop a failed line for good (止付): it will not be re-queued."""
    line = session.get(PaymentLine, line_id, with_for_update=True, populate_existing=True)
    if line is None:
        raise NotFound(f"no payment line with id {line_id}")
    if not reason.strip():
        raise InvalidInput("say why the payment is stopped", field="reason")
    if line.status is not LineStatus.FAILED or line.disposition is not None:
        raise Conflict(
            f"line {line.id} is {line.disposition or line.status}; only a failed line waiting "
            "for a decision can be stopped"
        )
    line.disposition = FailedDisposition.STOPPED
    line.disposition_reason = f"{reason.strip()} ({actor})"[:200]
    session.flush()
    return line


# --------------------------------------------------------------------------- reconciliation


@dataclass(frozen=True, slots=True)
class Tally:
    count: int = 0
    amount: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.count + other.count, self.amount + other.amount)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """对账: what the batch generated, what the bank paid and failed, what is still pending."""

    batch_id: int
    programme_code: str
    period: dt.date
    status: BatchStatus
    generated: Tally
    paid: Tally
    failed: Tally
    pending: Tally
    requeued: Tally
    stopped: Tally
    ledger_approved: int
    ledger_paid: int
    ledger_reversed: int
    problems: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.problems


def reconcile_batch(session: Session, batch_id: int) -> Reconciliation:
    """The batch's lines summed by outcome and checked against the ledger, to the fen: in SQL,
    grouped, so that a batch of millions reconciles in seconds without loading a line."""
    batch = get_batch(session, batch_id)
    programme = get_programme(session, batch.programme_id)
    generated = paid = failed = pending = requeued = stopped = Tally()
    problems: list[str] = []
    by_outcome = session.execute(
        select(
            PaymentLine.status,
            PaymentLine.disposition,
            func.count(),
            func.coalesce(func.sum(PaymentLine.amount), 0),
        )
        .where(PaymentLine.batch_id == batch.id)
        .group_by(PaymentLine.status, PaymentLine.disposition)
    )
    for status, disposition, count, amount in by_outcome:
        tally = Tally(int(count), int(amount))
        generated += tally
        if status is LineStatus.PAID:
            paid += tally
        elif status is LineStatus.FAILED:
            failed += tally
            if disposition is FailedDisposition.REQUEUED:
                requeued += tally
            elif disposition is FailedDisposition.STOPPED:
                stopped += tally
        else:
            pending += tally
    # What the ledger moved for the lines: each line's own transfers, one per step taken.
    approved_fen, paid_fen, reversed_fen = (
        ledger.transfers_total(
            session, select(column).where(PaymentLine.batch_id == batch.id, column.is_not(None))
        )
        for column in (
            PaymentLine.approve_transfer_id,
            PaymentLine.paid_transfer_id,
            PaymentLine.reversal_transfer_id,
        )
    )
    if generated.amount != paid.amount + failed.amount + pending.amount:
        problems.append("generated ≠ paid + failed + pending")
    if generated.amount != batch.total or generated.count != batch.line_count:
        problems.append(f"lines sum to {generated.amount} fen, the batch says {batch.total}")
    if paid_fen != paid.amount:
        problems.append(f"ledger paid {paid_fen} fen, lines say {paid.amount}")
    if reversed_fen != failed.amount:
        problems.append(f"ledger reversed {reversed_fen} fen, failed lines say {failed.amount}")
    if batch.status is not BatchStatus.GENERATED and approved_fen != generated.amount:
        problems.append(f"ledger approved {approved_fen} fen of {generated.amount}")
    return Reconciliation(
        batch_id=batch.id,
        programme_code=programme.code,
        period=batch.period,
        status=batch.status,
        generated=generated,
        paid=paid,
        failed=failed,
        pending=pending,
        requeued=requeued,
        stopped=stopped,
        ledger_approved=approved_fen,
        ledger_paid=paid_fen,
        ledger_reversed=reversed_fen,
        problems=problems,
    )


# --------------------------------------------------------------------------- traceability


@dataclass(frozen=True, slots=True)
class PaymentTrace:
    """One payment traced: programme → batch → person → account → bank reference."""

    line_id: int
    programme_code: str
    programme_kind: ProgrammeKind
    batch_id: int
    period: dt.date
    attempt: int
    resident_id: int
    amount: int
    status: LineStatus
    disposition: FailedDisposition | None
    reference: str | None
    bank_account_masked: str | None
    bank_reference: str | None
    failure_reason: str | None
    approve_transfer_id: int | None
    paid_transfer_id: int | None
    reversal_transfer_id: int | None


def payments_of(session: Session, resident_id: int, *, limit: int = 500) -> list[PaymentTrace]:
    """Every payment line of a resident, latest month first."""
    registry.get_resident(session, resident_id)
    query = (
        select(PaymentLine, BenefitProgramme.code, BenefitProgramme.kind)
        .join(BenefitProgramme, BenefitProgramme.id == PaymentLine.programme_id)
        .where(PaymentLine.resident_id == resident_id)
        .order_by(PaymentLine.period.desc(), PaymentLine.id.desc())
        .limit(limit)
    )
    return [
        PaymentTrace(
            line_id=line.id,
            programme_code=code,
            programme_kind=kind,
            batch_id=line.batch_id,
            period=line.period,
            attempt=line.attempt,
            resident_id=line.resident_id,
            amount=line.amount,
            status=line.status,
            disposition=line.disposition,
            reference=line.reference,
            bank_account_masked=line.bank_account_masked,
            bank_reference=line.bank_reference,
            failure_reason=line.failure_reason,
            approve_transfer_id=line.approve_transfer_id,
            paid_transfer_id=line.paid_transfer_id,
            reversal_transfer_id=line.reversal_transfer_id,
        )
        for line, code, kind in session.execute(query)
    ]


def count_lines(session: Session, *, programme_id: int, period: dt.date) -> int:
    query = select(func.count()).where(
        PaymentLine.programme_id == programme_id, PaymentLine.period == period
    )
    return int(session.scalar(query) or 0)


# --------------------------------------------------------------------------- suspension


def get_beneficiary(session: Session, programme_id: int, resident_id: int) -> Beneficiary:
    beneficiary = session.scalar(
        select(Beneficiary)
        .where(Beneficiary.programme_id == programme_id, Beneficiary.resident_id == resident_id)
        .with_for_update()
    )
    if beneficiary is None:
        raise NotFound(f"resident {resident_id} is not a beneficiary of programme {programme_id}")
    return beneficiary


def suspend_beneficiary(
    session: Session,
    programme_id: int,
    resident_id: int,
    *,
    reason: str,
    actor: str,
    since: dt.date | None = None,
) -> Beneficiary:
    """Hold the payments (暂停发放) from the month ``since`` (default: this month) on.

    Batches leave a suspended beneficiary out; an already suspended one is left as it is.
    """
    if not reason.strip():
        raise InvalidInput("say why the payment is suspended", field="reason")
    beneficiary = get_beneficiary(session, programme_id, resident_id)
    if beneficiary.status is not BeneficiaryStatus.ACTIVE:
        return beneficiary
    beneficiary.status = BeneficiaryStatus.SUSPENDED
    beneficiary.suspended_since = (since or clock.today()).replace(day=1)
    beneficiary.suspension_reason = f"{reason.strip()} ({actor})"[:200]
    session.flush()
    return beneficiary


def resume_beneficiary(
    session: Session, programme_id: int, resident_id: int, *, reason: str, actor: str
) -> list[Arrear]:
    """Lift a suspension; every month whose batch ran while held is owed and paid by the next
    batch (补发). Returns the months owed (none when the beneficiary was not suspended)."""
    beneficiary = get_beneficiary(session, programme_id, resident_id)
    if beneficiary.status is not BeneficiaryStatus.SUSPENDED:
        return []
    programme = get_programme(session, programme_id)
    held_from = max(beneficiary.suspended_since or clock.today(), beneficiary.first_period)
    ran = set(
        session.scalars(
            select(PaymentBatch.period).where(
                PaymentBatch.programme_id == programme.id, PaymentBatch.period >= held_from
            )
        )
    )
    paid = set(
        session.scalars(
            select(PaymentLine.period).where(
                PaymentLine.programme_id == programme.id,
                PaymentLine.resident_id == resident_id,
                PaymentLine.period >= held_from,
            )
        )
    )
    owed_already = set(
        session.scalars(
            select(Arrear.period).where(
                Arrear.programme_id == programme.id, Arrear.resident_id == resident_id
            )
        )
    )
    now = clock.now()
    amount = beneficiary.amount if beneficiary.amount is not None else programme.amount
    arrears = [
        Arrear(
            beneficiary_id=beneficiary.id,
            programme_id=programme.id,
            resident_id=resident_id,
            period=period,
            amount=amount,
            reason=f"{reason.strip()} ({actor})"[:200],
            created_at=now,
        )
        for period in sorted(ran - paid - owed_already)
        if period.month in programme.pay_months
    ]
    session.add_all(arrears)
    beneficiary.status = BeneficiaryStatus.ACTIVE
    beneficiary.suspended_since = None
    beneficiary.suspension_reason = None
    session.flush()
    return arrears


def arrears_of(session: Session, resident_id: int) -> list[Arrear]:
    query = select(Arrear).where(Arrear.resident_id == resident_id).order_by(Arrear.period)
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class Pensioner:
    """A beneficiary of a basic pension programme (基本养老金), for qualification certification."""

    beneficiary_id: int
    programme_id: int
    resident_id: int
    status: BeneficiaryStatus
    first_period: dt.date
    suspended_since: dt.date | None


def pensioners(session: Session, *, resident_id: int | None = None) -> list[Pensioner]:
    """Every active or suspended beneficiary of a basic pension programme (of one resident)."""
    query = (
        select(Beneficiary)
        .join(BenefitProgramme, BenefitProgramme.id == Beneficiary.programme_id)
        .where(
            BenefitProgramme.kind == ProgrammeKind.BASIC_PENSION,
            Beneficiary.status.in_([BeneficiaryStatus.ACTIVE, BeneficiaryStatus.SUSPENDED]),
        )
        .order_by(Beneficiary.resident_id, Beneficiary.id)
    )
    if resident_id is not None:
        query = query.where(Beneficiary.resident_id == resident_id)
    return [
        Pensioner(b.id, b.programme_id, b.resident_id, b.status, b.first_period, b.suspended_since)
        for b in session.scalars(query)
    ]


def life_signs(session: Session, *, since: dt.date, until: dt.date) -> list[tuple[int, dt.date]]:
    """(resident, latest day) of every benefit received between ``since`` and ``until``: money
    paid by a programme other than the pension itself is a sign of life (subsidy receipts)."""
    start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    query = (
        select(PaymentLine.resident_id, func.max(PaymentLine.resolved_at))
        .join(BenefitProgramme, BenefitProgramme.id == PaymentLine.programme_id)
        .where(
            BenefitProgramme.kind != ProgrammeKind.BASIC_PENSION,
            PaymentLine.status == LineStatus.PAID,
            PaymentLine.resolved_at >= start,
            PaymentLine.resolved_at < end,
        )
        .group_by(PaymentLine.resident_id)
    )
    return [
        (int(resident_id), _as_utc(at).date())
        for resident_id, at in session.execute(query)
        if at is not None
    ]


def _as_utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


# --------------------------------------------------------------------------- overpayment

OVERPAYMENT_RECEIVABLE_CODE = "benefits:overpayment-receivable"


def _overpayment_receivable(session: Session) -> int:
    return ledger.open_account(
        session,
        code=OVERPAYMENT_RECEIVABLE_CODE,
        kind=AccountKind.ASSET,
        name="benefits paid after entitlement ended, to recover 待追回多发待遇",
        owner_type="benefits",
        owner_id="overpayment",
        exist_ok=True,
    ).id


def pension_lines_after(session: Session, resident_id: int, period: dt.date) -> list[PaymentLine]:
    """Pension lines paid for months after ``period`` (first day of a month)."""
    query = (
        select(PaymentLine)
        .join(BenefitProgramme, BenefitProgramme.id == PaymentLine.programme_id)
        .where(
            BenefitProgramme.kind == ProgrammeKind.BASIC_PENSION,
            PaymentLine.resident_id == resident_id,
            PaymentLine.period > period,
            PaymentLine.status == LineStatus.PAID,
        )
        .order_by(PaymentLine.period, PaymentLine.id)
    )
    return list(session.scalars(query))


def claim_overpayment(session: Session, line_id: int, *, reason: str) -> int:
    """Book a paid line as owed back (多发追回): receivable debited, programme budget credited.

    Idempotent per line (key ``benefits:line:<id>:overpaid``); returns the transfer id.
    """
    line = get_line(session, line_id)
    if line.status is not LineStatus.PAID:
        raise Conflict(f"line {line.id} is {line.status}; only a paid line can be overpaid")
    programme = get_programme(session, line.programme_id)
    transfer = ledger.post_transfer(
        session,
        ledger.TransferRequest(
            idempotency_key=_key(line.id, "overpaid"),
            debit_account_id=_overpayment_receivable(session),
            credit_account_id=programme.budget_account_id,
            amount=line.amount,
            metadata={"line": line.id, "resident": line.resident_id, "reason": reason[:120]},
        ),
    )
    return transfer.id


def record_overpayment_recovered(session: Session, line_id: int, *, reference: str) -> int:
    """The overpaid amount came back to the fund's bank account: the receivable is cleared."""
    line = get_line(session, line_id)
    if ledger.get_transfer_by_key(session, _key(line.id, "overpaid")) is None:
        raise Conflict(f"line {line.id} was never booked as overpaid")
    reference = reference.strip()
    if not _BANK_REF.match(reference):
        raise InvalidInput("a bank reference is 1–64 letters, digits or '-'", field="reference")
    transfer = ledger.post_transfer(
        session,
        ledger.TransferRequest(
            idempotency_key=_key(line.id, "recovered"),
            debit_account_id=_bank_clearing(session),
            credit_account_id=_overpayment_receivable(session),
            amount=line.amount,
            metadata={"line": line.id, "reference": reference},
        ),
    )
    return transfer.id
