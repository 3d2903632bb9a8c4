"""Banks that hold the cards' financial accounts (金融账户), behind one adapter interface.

A top-up (圈存) asks the card's bank to debit the financial account; the bank pays the amount
into its clearing account with the platform, from which transit credits the transport purse.
``SandboxBank`` is a complete local bank for tests and the demo: it keeps its books in the same
ledger (its vault, the cards' financial accounts and its clearing account) and refuses a debit
the account cannot cover, exactly as a real bank answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from yikatong.acquiring import service as acquiring
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.ledger import service as ledger


class BankDeclined(Conflict):
    """The bank refused the debit (余额不足, account frozen…)."""

    slug = "bank-declined"
    title = "Bank declined"


@dataclass(frozen=True, slots=True)
class BankDebit:
    bank: str
    reference: str  # the bank's own reference of the debit
    transfer_id: int  # ledger transfer financial account → bank clearing account
    clearing_account_id: int  # where the money now waits for the platform


class BankAdapter(Protocol):
    name: str

    def debit(self, session: Session, *, card_no: str, amount: int, reference: str) -> BankDebit:
        """Debit the card's financial account by ``amount`` fen, idempotently on ``reference``;
        raise ``BankDeclined`` when the bank refuses."""
        ...


class SandboxBank:
    """A local bank with real books in the ledger (沙箱银行)."""

    name = "sandbox"

    def _vault(self, session: Session) -> int:
        return ledger.open_account(
            session,
            code="bank:sandbox:vault",
            kind=ledger.AccountKind.BANK,
            name="sandbox bank — deposits received",
            owner_type="bank",
            owner_id=self.name,
            exist_ok=True,
        ).id

    def clearing_account(self, session: Session) -> int:
        return ledger.open_account(
            session,
            code="bank:sandbox:clearing",
            kind=ledger.AccountKind.CLEARING,
            name="sandbox bank — owed to the platform for top-ups",
            owner_type="bank",
            owner_id=self.name,
            debits_must_not_exceed_credits=True,
            exist_ok=True,
        ).id

    def deposit(self, session: Session, *, card_no: str, amount: int, reference: str) -> int:
        """Cash or salary paid into the card's financial account; answers the transfer id."""
        if amount <= 0:
            raise InvalidInput("a deposit is a positive amount", field="amount")
        return ledger.post_transfer(
            session,
            ledger.TransferRequest(
                idempotency_key=f"sandbox-deposit:{reference}",
                debit_account_id=self._vault(session),
                credit_account_id=acquiring.card_account(session, card_no, "fin"),
                amount=amount,
                metadata={"bank": self.name, "reference": reference},
            ),
        ).id

    def debit(self, session: Session, *, card_no: str, amount: int, reference: str) -> BankDebit:
        clearing = self.clearing_account(session)
        try:
            transfer = ledger.post_transfer(
                session,
                ledger.TransferRequest(
                    idempotency_key=f"sandbox-debit:{reference}",
                    debit_account_id=acquiring.card_account(session, card_no, "fin"),
                    credit_account_id=clearing,
                    amount=amount,
                    metadata={"bank": self.name, "reference": reference},
                ),
            )
        except ledger.InsufficientFunds:
            raise BankDeclined(
                f"the financial account of card {card_no} cannot cover this top-up; "
                "pay money into it at the bank first",
                reason="insufficient-funds",
            ) from None
        return BankDebit(
            bank=self.name,
            reference=f"SBX{transfer.id:012d}",
            transfer_id=transfer.id,
            clearing_account_id=clearing,
        )


BANKS: dict[str, BankAdapter] = {SandboxBank.name: SandboxBank()}


def bank_named(name: str) -> BankAdapter:
    try:
        return BANKS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown bank {name!r}; known: {', '.join(sorted(BANKS))}", field="bank"
        ) from None
