"""``ykt medical institution`` and ``ykt medical enrolment`` on the test node's database."""

from __future__ import annotations

import datetime as dt

from tests.conftest import Ykt
from tests.integration.medical._world import resident
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.medical import service
from yikatong.node import Node


def test_institution_add_and_list(node: Node, ykt: Ykt) -> None:
    added = ykt("medical", "institution", "add", "QD-H3", "--name", "市立医院", "--level", "3",
                "--province-direct")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "level 3, designated, province-wide direct settlement" in added.output
    again = ykt("medical", "institution", "add", "QD-H3", "--name", "x", "--level", "3")
    assert again.exit_code == Conflict.exit_code
    bad = ykt("medical", "institution", "add", "QD-H4", "--name", "x", "--level", "4")
    assert bad.exit_code == InvalidInput.exit_code
    listed = ykt("medical", "institution", "list")
    assert "QD-H3" in listed.output and "QD-H4" not in listed.output


def test_enrolment_explains_the_cover_date(demo_node: Node, ykt: Ykt) -> None:
    with demo_node.transaction() as session:
        person = resident(session, dt.date(1980, 5, 1), card=False)
        service.pay_contribution(
            session, person, 2025, channel="bank", tier="tier2", external_ref="ICBC-9",
            paid_on=dt.date(2025, 2, 1), idempotency_key="cli-0001", actor="test",
        )  # fmt: skip
    shown = ykt("medical", "enrolment", str(person))
    assert shown.exit_code == 0, shown.output
    assert "2025 tier2: due 415.00, paid, covered from 2025-05-01" in shown.output
    assert "fixed waiting period" in shown.output
    assert "by bank on 2025-02-01 (paid)" in shown.output
