"""Where a clawed-back discount goes: to the campaign budget while the campaign runs, to the
fiscal account once it is closed (its budget went back there and the budget account is at 0);
the report's balance identity only counts what touched the budget."""

from __future__ import annotations

import datetime as dt

from yikatong.vouchers import service
from yikatong.vouchers.models import ClawbackTo, VoucherCampaign


def test_while_the_campaign_runs_the_discount_goes_back_to_its_budget() -> None:
    assert service.clawback_destination(VoucherCampaign(closed_at=None)) is ClawbackTo.BUDGET


def test_after_the_close_out_the_discount_goes_to_the_fiscal_account() -> None:
    closed = VoucherCampaign(closed_at=dt.datetime(2025, 3, 21, 1, 0, tzinfo=dt.UTC))
    assert service.clawback_destination(closed) is ClawbackTo.FISCAL


def test_clawbacks_after_the_close_out_stay_out_of_the_budget_identity() -> None:
    # seed 002 figures in fen: 600 + 300 paid, the 300 clawed back before the close-out, the
    # 600 after it; the budget returned everything else and ends at 0.
    budget, paid, clawed_back, late = 1_000_000, 90_000, 30_000, 60_000
    report = service.CampaignReport(
        campaign=VoucherCampaign(code="qd-appliances"),
        budget=budget,
        paid=paid,
        balance=0,
        types=[],
        merchants=[],
        clawed_back=clawed_back,
        clawed_back_after_close=late,
        returned=budget - paid + clawed_back,
        subsidy=paid - clawed_back - late,
    )
    assert report.balanced
    assert report.subsidy == 0  # the city paid nothing for goods that all came back
    # … and the fiscal account got the whole budget back
    assert report.to_fiscal == budget - paid + clawed_back + late == budget
