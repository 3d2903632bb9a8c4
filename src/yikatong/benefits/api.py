"""HTTP API of benefit disbursement (一卡通发).

Clerks draw up and approve batches (the approver must not be the clerk who generated the batch),
auditors read, residents see their own payments. Amounts come in as yuan strings and go out as
integer fen. The bank file goes out and the return file comes in as ``text/csv``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status
from pydantic import BaseModel, Field

from yikatong.api.auth import Principal, require
from yikatong.api.deps import MAX_ROW_ID, NodeDep, RowId, SessionDep
from yikatong.benefits import service
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
from yikatong.core.errors import Forbidden, InvalidInput
from yikatong.core.money import parse_yuan

router = APIRouter(prefix="/api/v1/benefits", tags=["benefits"])

_WRITE = require("clerk", "admin")
_READ = require("clerk", "auditor", "admin")
_RESIDENT = require("resident")

Yuan = Annotated[str, Field(max_length=24, examples=["3000.00"])]
Month = Annotated[str, Field(min_length=7, max_length=7, examples=["2025-03"])]


def _positive_yuan(text: str, field: str) -> int:
    amount = parse_yuan(text, field=field)
    if amount <= 0:
        raise InvalidInput("the amount must be positive", field=field)
    return amount


class ProgrammeIn(BaseModel):
    code: str = Field(min_length=2, max_length=32, examples=["pension-2025"])
    kind: ProgrammeKind
    name: str | None = Field(default=None, min_length=1, max_length=64)
    amount: Yuan | None = Field(default=None, description="Default per person; policy if absent")


class ProgrammeOut(BaseModel):
    id: int
    code: str
    kind: ProgrammeKind
    name: str
    amount: int = Field(description="Default fen per person and payment")
    pay_day: int
    months: list[int]
    policy_source: str
    budget_account_id: int
    payable_account_id: int
    created_by: str
    created_at: dt.datetime

    @classmethod
    def of(cls, p: BenefitProgramme) -> ProgrammeOut:
        return cls(
            id=p.id,
            code=p.code,
            kind=p.kind,
            name=p.name,
            amount=p.amount,
            pay_day=p.pay_day,
            months=list(p.pay_months),
            policy_source=p.policy_source,
            budget_account_id=p.budget_account_id,
            payable_account_id=p.payable_account_id,
            created_by=p.created_by,
            created_at=p.created_at,
        )


class FundIn(BaseModel):
    amount: Yuan
    reference: str = Field(min_length=1, max_length=64, examples=["CZ-2025-03"])


class FundOut(BaseModel):
    transfer_id: int
    budget_balance: int


class BeneficiaryIn(BaseModel):
    resident_id: int = Field(ge=1, le=MAX_ROW_ID)
    amount: Yuan | None = Field(default=None, description="Per person; programme default if absent")
    first_month: Month | None = Field(default=None, description="Default: the current month")


class BeneficiaryOut(BaseModel):
    id: int
    programme_id: int
    resident_id: int
    amount: int | None
    first_period: dt.date
    status: BeneficiaryStatus

    @classmethod
    def of(cls, b: Beneficiary) -> BeneficiaryOut:
        return cls(
            id=b.id,
            programme_id=b.programme_id,
            resident_id=b.resident_id,
            amount=b.amount,
            first_period=b.first_period,
            status=b.status,
        )


class BatchIn(BaseModel):
    programme_id: int = Field(ge=1, le=MAX_ROW_ID)
    month: Month


class BatchOut(BaseModel):
    id: int
    programme_id: int
    period: dt.date
    value_date: dt.date
    status: BatchStatus
    line_count: int
    total: int
    created_by: str
    approved_by: str | None
    approved_at: dt.datetime | None
    exported_at: dt.datetime | None

    @classmethod
    def of(cls, b: PaymentBatch) -> BatchOut:
        return cls(
            id=b.id,
            programme_id=b.programme_id,
            period=b.period,
            value_date=b.value_date,
            status=b.status,
            line_count=b.line_count,
            total=b.total,
            created_by=b.created_by,
            approved_by=b.approved_by,
            approved_at=b.approved_at,
            exported_at=b.exported_at,
        )


class LineOut(BaseModel):
    id: int
    resident_id: int
    period: dt.date
    attempt: int
    amount: int
    status: LineStatus
    disposition: FailedDisposition | None
    reference: str | None
    bank_account_masked: str | None
    bank_reference: str | None
    failure_reason: str | None
    requeued_from_id: int | None

    @classmethod
    def of(cls, line: PaymentLine) -> LineOut:
        return cls(
            id=line.id,
            resident_id=line.resident_id,
            period=line.period,
            attempt=line.attempt,
            amount=line.amount,
            status=line.status,
            disposition=line.disposition,
            reference=line.reference,
            bank_account_masked=line.bank_account_masked,
            bank_reference=line.bank_reference,
            failure_reason=line.failure_reason,
            requeued_from_id=line.requeued_from_id,
        )


class ReturnOut(BaseModel):
    batch_id: int
    paid: int
    failed: int
    unchanged: int
    batch_status: BatchStatus


class StopIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class TallyOut(BaseModel):
    count: int
    amount: int


class ReportOut(BaseModel):
    batch_id: int
    programme_code: str
    period: dt.date
    status: BatchStatus
    generated: TallyOut
    paid: TallyOut
    failed: TallyOut
    pending: TallyOut
    requeued: TallyOut
    stopped: TallyOut
    ledger_approved: int
    ledger_paid: int
    ledger_reversed: int
    balanced: bool
    problems: list[str]

    @classmethod
    def of(cls, r: service.Reconciliation) -> ReportOut:
        def tally(t: service.Tally) -> TallyOut:
            return TallyOut(count=t.count, amount=t.amount)

        return cls(
            batch_id=r.batch_id,
            programme_code=r.programme_code,
            period=r.period,
            status=r.status,
            generated=tally(r.generated),
            paid=tally(r.paid),
            failed=tally(r.failed),
            pending=tally(r.pending),
            requeued=tally(r.requeued),
            stopped=tally(r.stopped),
            ledger_approved=r.ledger_approved,
            ledger_paid=r.ledger_paid,
            ledger_reversed=r.ledger_reversed,
            balanced=r.balanced,
            problems=r.problems,
        )


class PaymentOut(BaseModel):
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

    @classmethod
    def of(cls, t: service.PaymentTrace) -> PaymentOut:
        return cls(**{name: getattr(t, name) for name in cls.model_fields})


@router.post(
    "/programmes",
    response_model=ProgrammeOut,
    status_code=status.HTTP_201_CREATED,
    summary="Open a benefit programme",
)
def add_programme(
    body: ProgrammeIn, session: SessionDep, node: NodeDep, who: Principal = _WRITE
) -> ProgrammeOut:
    amount = None if body.amount is None else _positive_yuan(body.amount, "amount")
    programme = service.add_programme(
        session,
        code=body.code,
        kind=body.kind,
        name=body.name,
        amount=amount,
        actor=who.subject,
        allow_illustrative=node.settings.demo,
    )
    return ProgrammeOut.of(programme)


@router.get("/programmes", response_model=list[ProgrammeOut], summary="List programmes")
def list_programmes(session: SessionDep, _: Principal = _READ) -> list[ProgrammeOut]:
    return [ProgrammeOut.of(p) for p in service.list_programmes(session)]


@router.post(
    "/programmes/{programme_id}/funding",
    response_model=FundOut,
    summary="Credit a programme budget (拨付)",
)
def fund_programme(
    programme_id: RowId, body: FundIn, session: SessionDep, who: Principal = _WRITE
) -> FundOut:
    transfer_id = service.fund_programme(
        session,
        programme_id,
        amount=_positive_yuan(body.amount, "amount"),
        reference=body.reference,
        actor=who.subject,
    )
    programme = service.get_programme(session, programme_id)
    return FundOut(
        transfer_id=transfer_id, budget_balance=service.budget_balance(session, programme)
    )


@router.post(
    "/programmes/{programme_id}/beneficiaries",
    response_model=BeneficiaryOut,
    status_code=status.HTTP_201_CREATED,
    summary="Enrol a resident in a programme",
)
def enrol_beneficiary(
    programme_id: RowId, body: BeneficiaryIn, session: SessionDep, who: Principal = _WRITE
) -> BeneficiaryOut:
    amount = None if body.amount is None else _positive_yuan(body.amount, "amount")
    first = (
        None
        if body.first_month is None
        else service.parse_month(body.first_month, field="first_month")
    )
    beneficiary = service.enrol_beneficiary(
        session,
        programme_id,
        body.resident_id,
        actor=who.subject,
        amount=amount,
        first_period=first,
    )
    return BeneficiaryOut.of(beneficiary)


@router.get(
    "/programmes/{programme_id}/beneficiaries",
    response_model=list[BeneficiaryOut],
    summary="List a programme's beneficiaries",
)
def list_beneficiaries(
    programme_id: RowId, session: SessionDep, _: Principal = _READ
) -> list[BeneficiaryOut]:
    return [BeneficiaryOut.of(b) for b in service.list_beneficiaries(session, programme_id)]


@router.post(
    "/batches",
    response_model=BatchOut,
    status_code=status.HTTP_201_CREATED,
    summary="Generate the monthly batch of a programme",
)
def generate_batch(body: BatchIn, session: SessionDep, who: Principal = _WRITE) -> BatchOut:
    period = service.parse_month(body.month)
    return BatchOut.of(
        service.generate_batch(session, body.programme_id, period, actor=who.subject)
    )


@router.get("/batches", response_model=list[BatchOut], summary="List batches")
def list_batches(
    session: SessionDep,
    _: Principal = _READ,
    programme_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> list[BatchOut]:
    return [BatchOut.of(b) for b in service.list_batches(session, programme_id=programme_id)]


@router.get("/batches/{batch_id}", response_model=BatchOut, summary="Read a batch")
def get_batch(batch_id: RowId, session: SessionDep, _: Principal = _READ) -> BatchOut:
    return BatchOut.of(service.get_batch(session, batch_id))


@router.get("/batches/{batch_id}/lines", response_model=list[LineOut], summary="Lines of a batch")
def batch_lines(batch_id: RowId, session: SessionDep, _: Principal = _READ) -> list[LineOut]:
    service.get_batch(session, batch_id)
    return [LineOut.of(line) for line in service.batch_lines(session, batch_id)]


@router.post(
    "/batches/{batch_id}/approval",
    response_model=BatchOut,
    summary="Approve a batch (复核; not by the clerk who generated it)",
)
def approve_batch(batch_id: RowId, session: SessionDep, who: Principal = _WRITE) -> BatchOut:
    return BatchOut.of(service.approve_batch(session, batch_id, actor=who.subject))


@router.post(
    "/batches/{batch_id}/bank-file",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The bank file"}},
    summary="Export the bank file of the pending lines (account reads are audited)",
)
def export_bank_file(batch_id: RowId, session: SessionDep, who: Principal = _WRITE) -> Response:
    bank_file = service.export_bank_file(session, batch_id, actor=who.subject)
    return Response(
        bank_file.text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="benefit-batch-{batch_id}.csv"',
            "X-Line-Count": str(bank_file.count),
            "X-Total-Fen": str(bank_file.total),
        },
    )


@router.post(
    "/batches/{batch_id}/return-file",
    response_model=ReturnOut,
    summary="Import the bank's return file (refused whole, with line numbers, if any row is bad)",
)
def import_return_file(
    batch_id: RowId,
    body: Annotated[bytes, Body(media_type="text/csv")],
    session: SessionDep,
    who: Principal = _WRITE,
) -> ReturnOut:
    if len(body) > service.RETURN_FILE_MAX_BYTES:
        raise InvalidInput("the return file is larger than 50 MiB", field="file")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the return file must be UTF-8 text", field="file") from None
    outcome = service.import_return_file(session, batch_id, text, actor=who.subject)
    return ReturnOut(
        batch_id=outcome.batch_id,
        paid=outcome.paid,
        failed=outcome.failed,
        unchanged=outcome.unchanged,
        batch_status=outcome.batch_status,
    )


@router.get(
    "/batches/{batch_id}/report",
    response_model=ReportOut,
    summary="Reconciliation (对账): generated = paid + failed + pending, to the fen",
)
def batch_report(batch_id: RowId, session: SessionDep, _: Principal = _READ) -> ReportOut:
    return ReportOut.of(service.reconcile_batch(session, batch_id))


@router.post(
    "/lines/{line_id}/stop",
    response_model=LineOut,
    summary="Stop a failed line for good instead of re-queuing it",
)
def stop_line(
    line_id: RowId, body: StopIn, session: SessionDep, who: Principal = _WRITE
) -> LineOut:
    return LineOut.of(service.stop_line(session, line_id, reason=body.reason, actor=who.subject))


@router.get(
    "/payments",
    response_model=list[PaymentOut],
    summary="Trace a resident's payments: programme → batch → account → bank reference",
)
def payments(
    session: SessionDep,
    resident_id: Annotated[int, Query(ge=1, le=MAX_ROW_ID)],
    _: Principal = _READ,
) -> list[PaymentOut]:
    return [PaymentOut.of(t) for t in service.payments_of(session, resident_id)]


@router.get("/me/payments", response_model=list[PaymentOut], summary="My benefit payments")
def my_payments(session: SessionDep, who: Principal = _RESIDENT) -> list[PaymentOut]:
    if who.resident_id is None:
        raise Forbidden("this token names no resident; sign in again")
    return [PaymentOut.of(t) for t in service.payments_of(session, who.resident_id)]
