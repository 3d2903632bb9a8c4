"""Pure rules of voucher refunds: what a refund leaves of the order, when the whole discount is
clawed back from it, and that refunds in any parts give the resident back exactly what they paid."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yikatong.core.errors import InvalidInput
from yikatong.vouchers import service
from yikatong.vouchers.models import Voucher, VoucherState

# seed 002: 8000−600 yuan, in fen
THRESHOLD, DISCOUNT = 800_000, 60_000


def split(order: int, refunded: int, amount: int, *, kept: bool = True) -> tuple[int, int]:
    return service.refund_split(
        order_amount=order,
        refunded=refunded,
        amount=amount,
        threshold=THRESHOLD,
        discount=DISCOUNT,
        discount_kept=kept,
    )


def test_a_refund_leaving_the_threshold_reached_keeps_the_discount() -> None:
    assert split(900_000, 0, 100_000) == (800_000, 0)


def test_the_refund_going_below_the_threshold_claws_the_whole_discount_back() -> None:
    assert split(900_000, 0, 100_001) == (799_999, DISCOUNT)
    assert split(900_000, 0, 900_000) == (0, DISCOUNT)  # a full refund
    assert split(900_000, 100_001, 100_000, kept=False) == (699_999, 0)  # already taken back


def test_a_refund_smaller_than_the_discount_it_would_lose_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"at least 600\.00") as refused:
        split(800_000, 0, 59_999)
    assert refused.value.field == "amount"
    assert split(800_000, 0, 60_000) == (740_000, DISCOUNT)


def test_no_more_than_what_is_left_of_the_order_is_refunded() -> None:
    with pytest.raises(InvalidInput, match=r"only 100\.00 yuan"):
        split(900_000, 890_000, 10_001, kept=False)
    assert split(900_000, 890_000, 10_000, kept=False) == (0, 0)


@given(
    order=st.integers(THRESHOLD, 5 * THRESHOLD),
    cuts=st.lists(st.integers(1, 10**6), min_size=1, max_size=8),
)
def test_refunds_in_any_parts_give_back_what_the_resident_paid(order: int, cuts: list[int]) -> None:
    refunded, clawed, paid_back, kept = 0, 0, 0, True
    for cut in [*cuts, order]:  # the last one returns whatever is left
        amount = min(cut, order - refunded)
        if amount == 0:
            break
        try:
            left, clawback = split(order, refunded, amount, kept=kept)
        except InvalidInput:
            continue  # too small to cover the discount: refused, nothing changes
        assert left == order - refunded - amount
        refunded, clawed, paid_back = (
            refunded + amount,
            clawed + clawback,
            paid_back + amount - clawback,
        )
        kept = kept and clawback == 0
        assert kept == (left >= THRESHOLD)
    if refunded < order:  # the last refund may itself have been too small: return the rest
        amount = order - refunded
        left, clawback = split(order, refunded, amount, kept=kept)
        refunded, clawed, paid_back = order, clawed + clawback, paid_back + amount - clawback
    assert refunded == order
    assert clawed == DISCOUNT  # taken back exactly once
    assert paid_back == order - DISCOUNT


def test_a_refunded_voucher_shows_as_refunded() -> None:
    voucher = Voucher(state=VoucherState.REFUNDED)
    assert service.effective_state(voucher) is VoucherState.REFUNDED
