"""``ykt ledger``: the operator's view of the same books."""

from __future__ import annotations

import functools
import json

import pytest

from tests.conftest import Ykt
from yikatong.core.errors import InvalidInput
from yikatong.ledger import service
from yikatong.node import Node


@pytest.fixture
def ykt(ykt: Ykt) -> Ykt:
    """``ykt ledger …`` on the test node."""
    return functools.partial(ykt, "ledger")


def test_open_transfer_and_read_back(node: Node, ykt) -> None:
    assert ykt("open", "bank:icbc", "--kind", "bank").exit_code == 0
    assert ykt("open", "card:1:fin", "--kind", "card_financial").exit_code == 0
    moved = ykt(
        "transfer", "--from", "bank:icbc", "--to", "card:1:fin", "--amount", "12.34", "--key", "k1"
    )
    assert moved.exit_code == 0, moved.output
    assert "12.34" in moved.output
    assert ykt("balance", "card:1:fin").output.strip() == "card:1:fin 12.34"
    assert "closing balance 12.34" in ykt("statement", "card:1:fin").output
    assert "balanced" in ykt("trial-balance").output
    assert "card:1:fin" in ykt("accounts").output
    verified = ykt("verify")
    assert verified.exit_code == 0
    assert json.loads(verified.output) == {"problems": [], "balanced": True}


def test_a_bad_amount_is_refused_before_anything_is_written(node: Node, ykt) -> None:
    ykt("open", "bank:icbc", "--kind", "bank")
    ykt("open", "card:1:fin", "--kind", "card_financial")
    result = ykt(
        "transfer", "--from", "bank:icbc", "--to", "card:1:fin", "--amount", "1.001", "--key", "k"
    )
    assert result.exit_code == InvalidInput.exit_code, result.output
    with node.transaction() as session:
        assert service.trial_balance(session).debits_posted == 0


def test_hold_commands_and_expiry(node: Node, ykt) -> None:
    ykt("open", "bank:icbc", "--kind", "bank")
    ykt("open", "card:1:fin", "--kind", "card_financial")
    ykt("open", "m:1", "--kind", "merchant_settlement")
    ykt("transfer", "--from", "bank:icbc", "--to", "card:1:fin", "--amount", "10", "--key", "t")
    held = ykt(
        "transfer",
        "--from",
        "card:1:fin",
        "--to",
        "m:1",
        "--amount",
        "4",
        "--key",
        "h",
        "--pending",
        "--timeout",
        "60",
    )
    assert "pending" in held.output
    with node.transaction() as session:
        hold = service.get_transfer_by_key(session, "h")
        assert hold is not None
        hold_id = hold.id
    assert ykt("post-hold", str(hold_id), "--key", "p", "--amount", "1").exit_code == 0
    assert ykt("balance", "card:1:fin").output.strip() == "card:1:fin 9.00"
    assert "released 0" in ykt("expire-holds").output
