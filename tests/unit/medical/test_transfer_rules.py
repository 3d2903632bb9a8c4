"""Transfer between cities (转移接续) as pure rules: the gap in months and bridging it."""

from __future__ import annotations

import datetime as dt

from yikatong.medical.policy import MedicalPolicy
from yikatong.medical.rules import (
    PriorCover,
    WaitRule,
    bridge_transfer_gap,
    coverage_start,
    transfer_gap_months,
)

D = dt.date


def test_the_gap_counts_calendar_months_including_the_month_of_payment() -> None:
    assert transfer_gap_months(D(2024, 12, 31), D(2024, 12, 31)) == 0
    assert transfer_gap_months(D(2024, 12, 31), D(2025, 1, 1)) == 1  # 1 January boundary
    assert transfer_gap_months(D(2024, 12, 31), D(2025, 3, 31)) == 3
    assert transfer_gap_months(D(2024, 12, 31), D(2025, 4, 1)) == 4
    # leap year: cover to 29 February, paid in May → March, April, May
    assert transfer_gap_months(D(2024, 2, 29), D(2024, 5, 31)) == 3


def test_the_transfer_limits_are_policy_data(qd2025: MedicalPolicy) -> None:
    rules = qd2025.transfer
    assert (rules.old_city_working_days, rules.new_city_working_days) == (10, 5)
    assert rules.end_to_end_working_days == 9  # seed 000
    assert rules.max_gap_months_without_wait == 3


def test_three_missed_months_are_bridged_from_1_january(qd2025: MedicalPolicy) -> None:
    late = coverage_start(qd2025, D(2025, 3, 31), prior_cover=PriorCover.of([2024]))
    assert late.covered_from == D(2025, 6, 30)
    bridged = bridge_transfer_gap(
        qd2025, late, covered_until=D(2024, 12, 31), old_city_code="370600"
    )
    assert bridged.rule is WaitRule.TRANSFER
    assert (bridged.covered_from, bridged.waiting_months) == (D(2025, 1, 1), 0)
    assert "pays the 3 missed month(s) from 2025-01-01" in bridged.explanation[-1]


def test_four_missed_months_keep_the_wait(qd2025: MedicalPolicy) -> None:
    late = coverage_start(qd2025, D(2025, 4, 1), prior_cover=PriorCover.of([2024]))
    kept = bridge_transfer_gap(qd2025, late, covered_until=D(2024, 12, 31), old_city_code="370600")
    assert (kept.rule, kept.covered_from) == (late.rule, late.covered_from)
    assert "more than 3: the wait applies" in kept.explanation[-1]


def test_cover_ending_mid_year_is_continued_the_next_day(qd2025: MedicalPolicy) -> None:
    late = coverage_start(qd2025, D(2025, 8, 15), prior_cover=PriorCover.of([2024]))
    bridged = bridge_transfer_gap(
        qd2025, late, covered_until=D(2025, 6, 30), old_city_code="370600"
    )
    assert bridged.covered_from == D(2025, 7, 1)


def test_nothing_to_bridge_when_paid_in_the_window(qd2025: MedicalPolicy) -> None:
    in_window = coverage_start(qd2025, D(2024, 11, 1), prior_cover=PriorCover.of([2024]))
    same = bridge_transfer_gap(
        qd2025, in_window, covered_until=D(2024, 12, 31), old_city_code="370600"
    )
    assert (same.rule, same.covered_from) == (WaitRule.IN_WINDOW, D(2025, 1, 1))
