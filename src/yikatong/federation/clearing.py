"""Inter-city clearing (城市间清算): every cross-city payment on both ledgers, netted daily.

A payment with a card of city A accepted in city B is recorded twice, each time as a ledger
transfer with the payment reference as idempotency key:

* in B (acquirer), when it is approved: debit ``fed:clearing:A`` (A now owes B), credit
  ``fed:acquired:A`` (B owes its merchants for A's cards); and a ``clearing.payment`` message to A
  in the same transaction (outbox);
* in A (issuer), when that message is applied: debit ``fed:issued:B`` (to collect from A's
  cardholders), credit ``fed:clearing:B`` (A owes B).

``fed:clearing:<city>`` is a clearing account (credit-normal): its balance is what this city owes
that city, negative when it is owed. The daily run (:func:`run_clearing`) nets one business day's
lines with one counterparty, moves the net from ``fed:clearing:<city>`` to
``fed:settlement:<city>`` (what the banks settle) and sends the counterparty a statement of every
line. The statement travels as a signed envelope on the ``clearing`` stream, after the payments
sent before it; the receiver compares it line by line with its own lines
(:class:`models.ClearingReport`): matched, missing on either side, or different in amount.
Both settlement accounts of a pair sum to zero to the fen when the two cities agree.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.federation.envelope import Envelope
from yikatong.federation.models import ClearingLine, ClearingReport, ClearingRun
from yikatong.federation.service import register_handler, send
from yikatong.ledger import service as ledger

log = logging.getLogger("yikatong.federation.clearing")

STREAM = "clearing"
PAYMENT = "clearing.payment"
STATEMENT = "clearing.statement"


def _account(session: Session, purpose: str, city: str, kind: ledger.AccountKind) -> int:
    code = f"fed:{purpose}:{city}"
    account = ledger.open_account(
        session,
        code=code,
        kind=kind,
        name=f"federation {purpose} with city {city}",
        owner_type="city",
        owner_id=city,
        exist_ok=True,
    )
    return account.id


def clearing_account(session: Session, city: str) -> int:
    return _account(session, "clearing", city, ledger.AccountKind.CLEARING)


def settlement_account(session: Session, city: str) -> int:
    return _account(session, "settlement", city, ledger.AccountKind.CLEARING)


def _line(
    session: Session,
    *,
    role: str,
    payment_ref: str,
    acquirer_city: str,
    issuer_city: str,
    business_date: dt.date,
    amount: int,
    card_ref: str | None,
    scenario: str | None,
) -> ClearingLine:
    existing = session.scalars(
        select(ClearingLine).where(ClearingLine.payment_ref == payment_ref)
    ).one_or_none()
    if existing is not None:
        return existing
    counterparty = issuer_city if role == "acquirer" else acquirer_city
    clearing = clearing_account(session, counterparty)
    if role == "acquirer":
        debit = clearing
        credit = _account(session, "acquired", counterparty, ledger.AccountKind.LIABILITY)
    else:
        debit = _account(session, "issued", counterparty, ledger.AccountKind.ASSET)
        credit = clearing
    transfer = ledger.post_transfer(
        session,
        ledger.TransferRequest(
            idempotency_key=f"fed:pay:{payment_ref}",
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            metadata={"acquirer": acquirer_city, "issuer": issuer_city, "card_ref": card_ref},
        ),
    )
    line = ClearingLine(
        payment_ref=payment_ref,
        role=role,
        counterparty=counterparty,
        acquirer_city=acquirer_city,
        issuer_city=issuer_city,
        business_date=business_date,
        amount_fen=amount,
        card_ref=card_ref,
        scenario=scenario,
        transfer_id=transfer.id,
        recorded_at=clock.now(),
    )
    session.add(line)
    session.flush()
    return line


def record_acquired_payment(
    session: Session,
    *,
    own_city: str,
    issuer_city: str,
    payment_ref: str,
    amount: int,
    card_ref: str | None,
    scenario: str | None = None,
) -> ClearingLine:
    """Record a payment with a card of ``issuer_city`` accepted here, and tell the issuer."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput("a cross-city payment is a positive number of fen", field="amount")
    if issuer_city == own_city:
        raise InvalidInput("a payment with this city's own card is not cross-city", field="city")
    business_date = clock.today()
    line = _line(
        session,
        role="acquirer",
        payment_ref=payment_ref,
        acquirer_city=own_city,
        issuer_city=issuer_city,
        business_date=business_date,
        amount=amount,
        card_ref=card_ref,
        scenario=scenario,
    )
    send(
        session,
        issuer_city,
        STREAM,
        PAYMENT,
        {
            "payment_ref": payment_ref,
            "acquirer": own_city,
            "issuer": issuer_city,
            "business_date": business_date.isoformat(),
            "amount_fen": amount,
            "card_ref": card_ref,
            "scenario": scenario,
        },
    )
    return line


def _apply_payment(session: Session, envelope: Envelope) -> None:
    body = envelope.body
    amount = body.get("amount_fen")
    if body.get("acquirer") != envelope.sender or body.get("issuer") != envelope.receiver:
        raise ValueError(
            f"payment {body.get('payment_ref')} names acquirer {body.get('acquirer')} / issuer "
            f"{body.get('issuer')}, but came from {envelope.sender} to {envelope.receiver}"
        )
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"payment amount {amount!r} is not a positive number of fen")
    _line(
        session,
        role="issuer",
        payment_ref=str(body["payment_ref"]),
        acquirer_city=envelope.sender,
        issuer_city=envelope.receiver,
        business_date=dt.date.fromisoformat(str(body["business_date"])),
        amount=amount,
        card_ref=body.get("card_ref") if isinstance(body.get("card_ref"), str) else None,
        scenario=body.get("scenario") if isinstance(body.get("scenario"), str) else None,
    )


# --- The daily run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    counterparty: str
    business_date: dt.date
    acquired: int  # what the counterparty's cards spent here: it owes us
    issued: int  # what our cards spent there: we owe it
    lines: list[ClearingLine]

    @property
    def net(self) -> int:
        """Positive: the counterparty owes this city."""
        return self.acquired - self.issued


def position(session: Session, counterparty: str, business_date: dt.date) -> Position:
    lines = list(
        session.scalars(
            select(ClearingLine)
            .where(
                ClearingLine.counterparty == counterparty,
                ClearingLine.business_date == business_date,
            )
            .order_by(ClearingLine.payment_ref)
        )
    )
    acquired = sum(line.amount_fen for line in lines if line.role == "acquirer")
    issued = sum(line.amount_fen for line in lines if line.role == "issuer")
    return Position(counterparty, business_date, acquired, issued, lines)


def _statement_line(line: ClearingLine) -> dict[str, Any]:
    return {
        "payment_ref": line.payment_ref,
        "acquirer": line.acquirer_city,
        "issuer": line.issuer_city,
        "amount_fen": line.amount_fen,
    }


def run_clearing(
    session: Session, *, own_city: str, counterparty: str, business_date: dt.date
) -> ClearingRun:
    """Net one business day with one city, post the settlement and send the signed statement."""
    if counterparty == own_city:
        raise InvalidInput("a city does not clear with itself", field="counterparty")
    if business_date >= clock.today():
        raise InvalidInput(
            f"{business_date} is not over yet; clear a past business day", field="date"
        )
    done = session.scalars(
        select(ClearingRun).where(
            ClearingRun.counterparty == counterparty, ClearingRun.business_date == business_date
        )
    ).one_or_none()
    if done is not None:
        raise Conflict(
            f"clearing with {counterparty} for {business_date} already ran (net {done.net_fen} "
            "fen); a late payment goes into the next day's run"
        )
    pos = position(session, counterparty, business_date)
    transfer_id: int | None = None
    if pos.net:
        clearing, settlement = (
            clearing_account(session, counterparty),
            settlement_account(session, counterparty),
        )
        # Move the day's net position out of clearing into what the banks settle.
        debit, credit = (settlement, clearing) if pos.net > 0 else (clearing, settlement)
        transfer_id = ledger.post_transfer(
            session,
            ledger.TransferRequest(
                idempotency_key=f"fed:clear:{counterparty}:{business_date.isoformat()}",
                debit_account_id=debit,
                credit_account_id=credit,
                amount=abs(pos.net),
                metadata={"counterparty": counterparty, "date": business_date.isoformat()},
            ),
        ).id
    message_id = send(
        session,
        counterparty,
        STREAM,
        STATEMENT,
        {
            "business_date": business_date.isoformat(),
            "from": own_city,
            "to": counterparty,
            "acquired_fen": pos.acquired,
            "issued_fen": pos.issued,
            "net_fen": pos.net,
            "lines": [_statement_line(line) for line in pos.lines],
        },
    )
    run = ClearingRun(
        counterparty=counterparty,
        business_date=business_date,
        acquired_fen=pos.acquired,
        issued_fen=pos.issued,
        net_fen=pos.net,
        lines=len(pos.lines),
        transfer_id=transfer_id,
        message_id=message_id,
        run_at=clock.now(),
    )
    session.add(run)
    session.flush()
    return run


def _apply_statement(session: Session, envelope: Envelope) -> None:
    body = envelope.body
    business_date = dt.date.fromisoformat(str(body["business_date"]))
    theirs = {str(line["payment_ref"]): line for line in body["lines"]}
    ours = {
        line.payment_ref: line for line in position(session, envelope.sender, business_date).lines
    }
    mismatches: list[dict[str, Any]] = []
    matched = 0
    for ref in sorted(theirs.keys() | ours.keys()):
        their, our = theirs.get(ref), ours.get(ref)
        if their is None:
            assert our is not None
            mismatches.append(
                {"payment_ref": ref, "issue": "missing-at-sender", "ours": _statement_line(our)}
            )
        elif our is None:
            mismatches.append({"payment_ref": ref, "issue": "missing-here", "theirs": their})
        elif _statement_line(our) != {k: their.get(k) for k in _statement_line(our)}:
            mismatches.append(
                {
                    "payment_ref": ref,
                    "issue": "differs",
                    "theirs": their,
                    "ours": _statement_line(our),
                }
            )
        else:
            matched += 1
    own = position(session, envelope.sender, business_date)
    their_net = int(body["net_fen"])
    if not mismatches and their_net != -own.net:
        mismatches.append(
            {"payment_ref": None, "issue": "net-differs", "theirs": their_net, "ours": own.net}
        )
    status = "balanced" if not mismatches else "mismatch"
    report = session.scalars(
        select(ClearingReport).where(
            ClearingReport.counterparty == envelope.sender,
            ClearingReport.business_date == business_date,
        )
    ).one_or_none()
    if report is None:
        report = ClearingReport(counterparty=envelope.sender, business_date=business_date)
        session.add(report)
    report.status = status
    report.their_net_fen = their_net
    report.our_net_fen = own.net
    report.matched = matched
    report.mismatches = mismatches
    report.statement_message_id = envelope.message_id
    report.received_at = clock.now()
    session.flush()
    if mismatches:
        log.error(
            "clearing with %s for %s does not balance: %d line(s) differ",
            envelope.sender,
            business_date,
            len(mismatches),
        )


def clearing_runs(session: Session, *, counterparty: str | None = None) -> list[ClearingRun]:
    query = select(ClearingRun).order_by(ClearingRun.business_date, ClearingRun.counterparty)
    if counterparty:
        query = query.where(ClearingRun.counterparty == counterparty)
    return list(session.scalars(query))


def clearing_reports(session: Session, *, counterparty: str | None = None) -> list[ClearingReport]:
    query = select(ClearingReport).order_by(
        ClearingReport.business_date, ClearingReport.counterparty
    )
    if counterparty:
        query = query.where(ClearingReport.counterparty == counterparty)
    return list(session.scalars(query))


register_handler(PAYMENT, _apply_payment)
register_handler(STATEMENT, _apply_statement)
