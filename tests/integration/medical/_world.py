"""A small medical world: residents (with cards and relatives), institutions, a demo node."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from yikatong.cards import service as cards
from yikatong.core.ids import make_resident_id
from yikatong.core.money import Fen
from yikatong.ledger import service as ledger
from yikatong.ledger.models import AccountKind
from yikatong.ledger.service import TransferRequest
from yikatong.medical import service
from yikatong.registry import service as registry
from yikatong.registry.models import RelationType

_order = itertools.count(11)


def resident(
    session: Session,
    born: dt.date,
    *,
    student: bool = False,
    card: bool = True,
    name: str = "张三",
) -> int:
    data = registry.ResidentInput(
        id_number=make_resident_id("370202", born, next(_order)),
        name=name,
        district_code="370202",
        student=student,
    )
    person = registry.enrol_resident(session, data, actor="test")
    if card:
        cards.apply_for_card(session, person.id, actor="test")
    return person.id


def top_up_card(session: Session, resident_id: int, amount: Fen) -> None:
    """Load the card's financial account from a bank account, as a bank top-up would."""
    bank = ledger.open_account(session, code="bank:test", kind=AccountKind.BANK, exist_ok=True)
    card = service.card_financial_account(session, resident_id)
    ledger.post_transfer(
        session,
        TransferRequest(f"topup:{resident_id}:{amount}", bank.id, card, amount),
    )


def relate(session: Session, resident_id: int, relative_id: int, relation: RelationType) -> None:
    registry.add_relative(session, resident_id, relative_id, relation, actor="test")


def card_balance(session: Session, resident_id: int) -> Fen:
    return ledger.balance(session, service.card_financial_account(session, resident_id))
