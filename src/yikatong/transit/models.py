"""Tables of transit: transport-purse top-ups (圈存). Rides are acquiring taps at bus and metro
terminals; their fare breakdown is kept with the tap."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class TopUp(Base):
    """A top-up of a card's transport purse from its financial account, through a bank."""

    __tablename__ = "transit_top_up"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    card_no: Mapped[str] = mapped_column(String(9), index=True)
    resident_id: Mapped[int] = mapped_column(Integer, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    bank: Mapped[str] = mapped_column(String(32))
    bank_reference: Mapped[str] = mapped_column(String(64))
    bank_transfer_id: Mapped[int] = mapped_column(_BIG_ID)  # financial account → bank clearing
    transfer_id: Mapped[int] = mapped_column(_BIG_ID)  # bank clearing → transport purse
    debts_collected: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
