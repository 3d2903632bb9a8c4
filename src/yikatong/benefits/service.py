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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yikatong.benefits.models import (
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
from yikatong.core import calendar, clock
from yikatong.core.errors import Conflict, Forbidden, InvalidInput, NotFound, PolicyError
from yikatong.core.money import Fen, format_yuan, parse_yuan
from yikatong.core.policy import load_policy_file, packaged_policy_path
from yikatong.ledger import service as ledger
from yikatong.ledger.models import AccountKind
from yikatong.registry import service as registry

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


def mask_name(name: str) -> str:
    """``王小明 → 王*明``, ``李四 → 李*``: enough for the bank to recognise, not to read."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _value_date(period: dt.date, pay_day: int) -> dt.date:
    """The pay day of the month, moved back to a working day (banks credit on working days)."""
    day = period.replace(day=pay_day)
    while not calendar.is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


def _key(line_id: int, step: str) -> str:
    return f"benefits:line:{line_id}:{step}"


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
) -> Beneficiary:
    """Enrol a living resident with a payout account; paid from ``first_period`` on."""
    programme = get_programme(session, programme_id)
    if amount is not None and amount <= 0:
        raise InvalidInput("the amount must be positive", field="amount")
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
        first_period=first_period or clock.today().replace(day=1),
        status=BeneficiaryStatus.ACTIVE,
        created_at=clock.now(),
        created_by=actor[:64],
    )
    session.add(beneficiary)
    session.flush()
    return beneficiary


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
    already = set(
        session.scalars(
            select(PaymentLine.resident_id).where(
                PaymentLine.programme_id == programme.id, PaymentLine.period == period
            )
        )
    )
    beneficiaries = session.scalars(
        select(Beneficiary)
        .where(
            Beneficiary.programme_id == programme.id,
            Beneficiary.status == BeneficiaryStatus.ACTIVE,
            Beneficiary.first_period <= period,
        )
        .order_by(Beneficiary.id)
    )
    fresh = [
        b for b in beneficiaries if b.resident_id not in already and _alive(session, b.resident_id)
    ]
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
    if not fresh and not failed:
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
    lines = [
        PaymentLine(
            batch_id=batch.id,
            programme_id=programme.id,
            resident_id=b.resident_id,
            period=period,
            attempt=1,
            amount=b.amount if b.amount is not None else programme.amount,
            status=LineStatus.PENDING,
        )
        for b in fresh
    ]
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
    session.add_all(lines)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"another batch of {programme.code} for {period:%Y-%m} was generated at the same "
            "time; list the batches and generate again if someone is still missing"
        ) from None
    for line in lines:
        line.reference = f"YKT{programme.id:04d}{line.period:%Y%m}{line.id:010d}"
    batch.line_count = len(lines)
    batch.total = sum(line.amount for line in lines)
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
    lines = batch_lines(session, batch.id)
    held = budget_balance(session, programme)
    if held < batch.total:
        raise Conflict(
            f"batch {batch.id} cannot be approved: the budget of {programme.code} holds "
            f"{format_yuan(held)} yuan for {format_yuan(batch.total)} — fund it first",
            budget=held,
            total=batch.total,
        )
    requests = [
        ledger.TransferRequest(
            idempotency_key=_key(line.id, "approve"),
            debit_account_id=programme.budget_account_id,
            credit_account_id=programme.payable_account_id,
            amount=line.amount,
            metadata={"batch": batch.id, "line": line.id, "resident": line.resident_id},
        )
        for line in lines
    ]
    outcomes = ledger.post_batch(session, requests)
    refused = [o for o in outcomes if o.status is ledger.BatchStatus.REJECTED]
    if refused:
        # The caller's transaction is rolled back by this error: nothing stays posted.
        raise Conflict(
            f"batch {batch.id} cannot be approved: {len(refused)} of {len(lines)} line(s) "
            f"refused by the ledger, first: {refused[0].reason}",
            refused=len(refused),
        )
    for line, outcome in zip(lines, outcomes, strict=True):
        line.approve_transfer_id = outcome.transfer_id
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


def export_bank_file(session: Session, batch_id: int, *, actor: str) -> BankFile:
    """The bank file of the lines still pending; bank accounts are revealed, audited."""
    batch = get_batch(session, batch_id, lock=True)
    if batch.status not in (BatchStatus.APPROVED, BatchStatus.EXPORTED):
        raise Conflict(
            f"batch {batch.id} is {batch.status}; only an approved batch goes to the bank"
        )
    programme = get_programme(session, batch.programme_id)
    pending = [line for line in batch_lines(session, batch.id) if line.status is LineStatus.PENDING]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "H",
            batch.id,
            programme.code,
            f"{batch.period:%Y-%m}",
            batch.value_date.isoformat(),
            len(pending),
            sum(line.amount for line in pending),
        ]
    )
    for line in pending:
        resident = registry.get_resident(session, line.resident_id)
        revealed = registry.reveal(
            session,
            line.resident_id,
            actor=SYSTEM_ACTOR,
            role=_SYSTEM_ROLE,
            reason=f"bank file of benefit batch {batch.id}, exported by {actor}"[:200],
            fields=["bank_account"],
        )
        account = revealed.get("bank_account")
        if account is None:
            raise Conflict(
                f"resident {line.resident_id} (line {line.id}) has no payout account any more; "
                "record one before exporting"
            )
        line.bank_account_masked = registry.mask_bank_account(account)
        writer.writerow(
            ["D", line.id, mask_name(resident.name), account, line.amount, line.reference]
        )
    batch.status = BatchStatus.EXPORTED
    batch.exported_at = clock.now()
    session.flush()
    return BankFile(
        batch.id, len(pending), Fen(sum(line.amount for line in pending)), out.getvalue()
    )


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

    def add(self, amount: int) -> Tally:
        return Tally(self.count + 1, self.amount + amount)


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
    batch = get_batch(session, batch_id)
    programme = get_programme(session, batch.programme_id)
    generated = paid = failed = pending = requeued = stopped = Tally()
    approved_fen = paid_fen = reversed_fen = 0
    problems: list[str] = []

    def ledger_amount(transfer_id: int | None) -> int:
        return 0 if transfer_id is None else ledger.get_transfer(session, transfer_id).amount

    for line in batch_lines(session, batch.id):
        generated = generated.add(line.amount)
        if line.status is LineStatus.PAID:
            paid = paid.add(line.amount)
        elif line.status is LineStatus.FAILED:
            failed = failed.add(line.amount)
            if line.disposition is FailedDisposition.REQUEUED:
                requeued = requeued.add(line.amount)
            elif line.disposition is FailedDisposition.STOPPED:
                stopped = stopped.add(line.amount)
        else:
            pending = pending.add(line.amount)
        approved_fen += ledger_amount(line.approve_transfer_id)
        paid_fen += ledger_amount(line.paid_transfer_id)
        reversed_fen += ledger_amount(line.reversal_transfer_id)
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
