"""The pension transfer demo on a freshly loaded demo city: cases at every step, one overdue."""

from __future__ import annotations

import random

from yikatong.core import clock, db
from yikatong.demo.load import load_demo
from yikatong.ledger import service as ledger
from yikatong.node import Node
from yikatong.pensions import demo, service
from yikatong.pensions.models import TransferStep


def test_the_demo_has_cases_at_every_step_and_one_overdue(
    fixed_clock: clock.FixedClock, node: Node
) -> None:
    db.Base.metadata.drop_all(node.engine)
    node.settings.demo = True
    load_demo(node, residents=120, seed=7, domains=())
    db.create_schema(node.engine)  # tables newer than the last migration
    figures = demo.seed_demo(node, random.Random(3))
    assert figures["transfer_cases"] == 7
    assert (figures["completed"], figures["temporary_accounts"], figures["overdue"]) == (2, 1, 1)
    with node.transaction() as session:
        rows = service.transfer_ledger(session)
        steps = {r.case.step for r in rows}
        assert steps == {
            TransferStep.CERTIFICATE,
            TransferStep.LETTER,
            TransferStep.COMPLETED,
            TransferStep.TEMPORARY,
        }
        [late] = [r for r in rows if r.overdue]
        assert late.alert is not None and "参保缴费凭证" in late.alert
        assert ledger.trial_balance(session).balanced
