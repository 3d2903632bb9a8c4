"""Pure rules of vouchers: the week a claim counts in, type codes, the state a holder sees."""

from __future__ import annotations

import datetime as dt

from yikatong.vouchers import service
from yikatong.vouchers.models import Voucher, VoucherState

CST = dt.timezone(dt.timedelta(hours=8))


def test_the_week_is_the_iso_week_of_the_beijing_date() -> None:
    assert service.week_of(dt.datetime(2025, 3, 10, 10, 0, tzinfo=CST)) == "2025-W11"
    # Sunday 23:30 in Beijing is still week 11, although it is Sunday 15:30 UTC …
    assert service.week_of(dt.datetime(2025, 3, 16, 23, 30, tzinfo=CST)) == "2025-W11"
    # … and Monday 00:30 in Beijing (Sunday 16:30 UTC) is week 12.
    assert service.week_of(dt.datetime(2025, 3, 16, 16, 30, tzinfo=dt.UTC)) == "2025-W12"


def test_the_iso_week_of_new_year_belongs_to_its_iso_year() -> None:
    assert service.week_of(dt.datetime(2024, 12, 30, 12, 0, tzinfo=CST)) == "2025-W01"


def test_a_type_is_named_threshold_minus_discount_in_yuan() -> None:
    assert service.TypeSpec(800_000, 60_000, 1).code == "8000-600"
    assert service.TypeSpec(200_050, 30_000, 1).code == "2000.50-300"


def test_a_claimed_voucher_past_its_validity_shows_as_expired() -> None:
    claimed = dt.datetime(2025, 3, 10, 2, 0, tzinfo=dt.UTC)
    voucher = Voucher(
        state=VoucherState.CLAIMED, claimed_at=claimed, expires_at=claimed + dt.timedelta(hours=24)
    )
    assert (
        service.effective_state(voucher, claimed + dt.timedelta(hours=23)) is VoucherState.CLAIMED
    )
    assert (
        service.effective_state(voucher, claimed + dt.timedelta(hours=24)) is VoucherState.EXPIRED
    )
    voucher.state = VoucherState.REDEEMED
    assert service.effective_state(voucher, claimed + dt.timedelta(days=3)) is VoucherState.REDEEMED
