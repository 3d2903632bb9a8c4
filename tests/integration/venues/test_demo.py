"""The venues demo seeder on a freshly loaded demo city: a catalogue of the five categories,
gates with keys, purchases paid to the operators, and entries on the gates' record."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select

from yikatong.acquiring import service as acquiring
from yikatong.core import db
from yikatong.demo.load import load_demo
from yikatong.ledger import service as ledger
from yikatong.node import Node
from yikatong.venues import demo as venues_demo
from yikatong.venues import service as venues
from yikatong.venues.models import Entry, EntryOutcome, Ticket, VenueCategory


def test_the_demo_city_visits_its_venues(node: Node) -> None:
    db.Base.metadata.drop_all(node.engine)
    node.settings.demo = True
    load_demo(node, residents=60, seed=3, domains=())
    db.create_schema(node.engine)  # tables newer than the last migration
    figures = venues_demo.seed_demo(node, random.Random(5))
    assert figures["venues"] == len(venues_demo.VENUES) and figures["gates"] == figures["venues"]
    assert figures["tickets"] > 10 and figures["passes"] > 3
    assert figures["entries_admitted"] > 10 and figures["entries_refused"] >= 1
    with node.transaction() as session:
        assert {v.category for v in venues.list_venues(session)} == set(VenueCategory)
        paid = session.scalar(select(func.sum(Ticket.amount)))
        settled = sum(
            int(
                ledger.balance(session, acquiring.get_merchant(session, code).settlement_account_id)
            )
            for code, _ in venues_demo.OPERATORS
        )
        assert settled >= int(paid or 0) > 0  # tickets and passes, all paid to the operators
        admitted = session.scalars(
            select(Entry).where(Entry.outcome == EntryOutcome.ADMITTED)
        ).all()
        seen = venues.last_entries(
            session,
            [e.resident_id for e in admitted if e.resident_id],
            since=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        )
        assert len(seen) == len({e.resident_id for e in admitted})
    keys = (node.settings.data_dir / "demo" / venues_demo.KEYS_FILE).read_text().splitlines()
    assert sum(line.startswith("GATE-") for line in keys) == figures["gates"]
