"""Residents and delivery between two test nodes, as the dispatcher and the inbox do it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from yikatong import node as node_module
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.core.outbox import OutboxMessage
from yikatong.federation import service as federation
from yikatong.federation.envelope import seal
from yikatong.node import Node
from yikatong.registry import service as registry

QINGDAO, YANTAI, WEIFANG, RIZHAO = "370200", "370600", "370700", "371100"


def person_id(born: dt.date, order: int) -> str:
    """An ID number; ``order`` odd for a man, even for a woman."""
    return make_resident_id("370202", born, order)


def enrol(session: Session, id_number: str, name: str = "李明") -> int:
    data = registry.ResidentInput(id_number=id_number, name=name, district_code="370202")
    return registry.enrol_resident(session, data, actor="test").id


def beijing(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC) - dt.timedelta(hours=8)


def deliver(source: Node, target: Node) -> list[str]:
    """Sign every undelivered message of ``source`` for ``target`` and hand it to ``target``'s
    inbox (verification with the league's keys included); the receipts' statuses."""
    previous = node_module.current()
    node_module.set_current(source)
    with source.transaction() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.receiver == target.city_code, OutboxMessage.delivered_at.is_(None))
            .order_by(OutboxMessage.stream, OutboxMessage.seq)
        ).all()
        pending = [(r.id, r.message_id, r.stream, r.seq, r.payload_type, r.body) for r in rows]
    key = source.signing_key()
    statuses = []
    try:
        for row_id, message_id, stream, seq, payload_type, body in pending:
            envelope = seal(
                message_id=message_id,
                sender=source.city_code,
                receiver=target.city_code,
                stream=stream,
                seq=seq,
                payload_type=payload_type,
                body=body,
                key=key,
                created_at=clock.now(),
            )
            node_module.set_current(target)
            statuses.append(federation.accept_envelope(target, envelope.to_wire()).status)
            node_module.set_current(source)
            with source.transaction() as session:
                row = session.get(OutboxMessage, row_id)
                assert row is not None
                row.delivered_at = clock.now()
    finally:
        node_module.set_current(previous)
    return statuses
