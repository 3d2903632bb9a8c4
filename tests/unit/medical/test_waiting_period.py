"""When cover starts (待遇享受起始日): window, late payment, broken cover, newborns, exact dates."""

from __future__ import annotations

import datetime as dt

import pytest

from yikatong.core.errors import InvalidInput
from yikatong.medical.policy import MedicalPolicy
from yikatong.medical.rules import PriorCover, WaitRule, add_months, coverage_start

D = dt.date
CONTINUOUS_2024 = PriorCover.of([2022, 2023])
CONTINUOUS_2025 = PriorCover.of([2023, 2024])


# ---- end-of-month handling


def test_months_are_added_on_the_same_day_number() -> None:
    assert add_months(D(2024, 2, 29), 3) == D(2024, 5, 29)


def test_a_shorter_month_clamps_to_its_last_day() -> None:
    assert add_months(D(2025, 11, 30), 3) == D(2026, 2, 28)


def test_a_leap_february_clamps_to_the_29th() -> None:
    assert add_months(D(2023, 11, 30), 3) == D(2024, 2, 29)


def test_months_roll_over_the_year() -> None:
    assert add_months(D(2024, 12, 31), 3) == D(2025, 3, 31)


# ---- seed 002: paid in the window → 1 January; paid after 1 January → 3 months


def test_paid_on_the_first_day_of_the_window_covers_from_1_january(qd2024: MedicalPolicy) -> None:
    decision = coverage_start(qd2024, D(2023, 9, 1), prior_cover=CONTINUOUS_2024)
    assert decision.covered_from == D(2024, 1, 1)
    assert decision.rule is WaitRule.IN_WINDOW
    assert decision.waiting_months == 0


def test_paid_on_31_december_covers_from_1_january(qd2024: MedicalPolicy) -> None:
    decision = coverage_start(qd2024, D(2023, 12, 31), prior_cover=CONTINUOUS_2024)
    assert decision.covered_from == D(2024, 1, 1)


def test_paid_on_1_january_waits_3_months(qd2024: MedicalPolicy) -> None:
    decision = coverage_start(qd2024, D(2024, 1, 1), prior_cover=CONTINUOUS_2024)
    assert decision.rule is WaitRule.LATE_PAYMENT
    assert decision.covered_from == D(2024, 4, 1)


def test_paid_on_29_february_covers_from_29_may(qd2024: MedicalPolicy) -> None:
    decision = coverage_start(qd2024, D(2024, 2, 29), prior_cover=CONTINUOUS_2024)
    assert decision.covered_from == D(2024, 5, 29)
    assert decision.waiting_months == 3
    assert any("2024-05-29" in note for note in decision.explanation)


def test_paid_on_30_november_waits_until_28_february(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(qd2025, D(2025, 11, 30), prior_cover=CONTINUOUS_2025)
    assert decision.covered_from == D(2026, 2, 28)
    assert not decision.has_cover


def test_paid_on_31_december_of_the_cover_year_buys_no_cover(qd2024: MedicalPolicy) -> None:
    decision = coverage_start(qd2024, D(2024, 12, 31), prior_cover=CONTINUOUS_2024)
    assert decision.covered_from == D(2025, 3, 31)
    assert not decision.has_cover
    assert "no 2024 benefits" in decision.explanation[-1]


def test_payment_before_the_window_opens_is_refused(qd2024: MedicalPolicy) -> None:
    with pytest.raises(InvalidInput, match="2023-09-01") as excinfo:
        coverage_start(qd2024, D(2023, 8, 31), prior_cover=CONTINUOUS_2024)
    assert excinfo.value.field == "paid_on"


def test_payment_after_the_cover_year_is_refused(qd2024: MedicalPolicy) -> None:
    with pytest.raises(InvalidInput, match="2025 policy"):
        coverage_start(qd2024, D(2025, 1, 1), prior_cover=CONTINUOUS_2024)


def test_in_2024_a_broken_cover_paid_in_the_window_does_not_wait(qd2024: MedicalPolicy) -> None:
    decision = coverage_start(qd2024, D(2023, 10, 1), prior_cover=PriorCover.of([2019]))
    assert decision.covered_from == D(2024, 1, 1)
    assert decision.gap_years == 4


def test_in_2024_a_broken_cover_paid_late_waits_the_fixed_3_months(qd2024: MedicalPolicy) -> None:
    decision = coverage_start(qd2024, D(2024, 3, 15), prior_cover=PriorCover.of([2019]))
    assert decision.covered_from == D(2024, 6, 15)


def test_first_enrolment_in_the_window_covers_from_1_january(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(qd2025, D(2024, 11, 2), prior_cover=PriorCover.first_enrolment())
    assert decision.covered_from == D(2025, 1, 1)
    assert decision.gap_years is None


# ---- 2025 national rule: 3 months + 1 month per uninsured year, repaired by back-payment


def test_one_year_gap_paid_in_the_window_waits_4_months_from_1_january(
    qd2025: MedicalPolicy,
) -> None:
    decision = coverage_start(qd2025, D(2024, 10, 15), prior_cover=PriorCover.of([2023]))
    assert decision.rule is WaitRule.BROKEN_COVER
    assert decision.waiting_months == 4
    assert decision.covered_from == D(2025, 5, 1)


def test_two_year_gap_paid_late_waits_5_months_from_payment(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(qd2025, D(2025, 3, 15), prior_cover=PriorCover.of([2022]))
    assert decision.waiting_months == 5
    assert decision.covered_from == D(2025, 8, 15)


def test_each_back_paid_year_shortens_the_wait_by_a_month(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(
        qd2025, D(2025, 3, 15), prior_cover=PriorCover.of([2022]), back_paid_months=12
    )
    assert decision.waiting_months == 4
    assert decision.covered_from == D(2025, 7, 15)


def test_back_paying_the_whole_gap_leaves_the_fixed_3_months(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(
        qd2025, D(2025, 3, 15), prior_cover=PriorCover.of([2022]), back_paid_months=24
    )
    assert decision.covered_from == D(2025, 6, 15)


def test_part_of_a_year_back_paid_does_not_shorten_the_wait(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(
        qd2025, D(2025, 3, 15), prior_cover=PriorCover.of([2022]), back_paid_months=11
    )
    assert decision.waiting_months == 5


def test_five_year_gap_waits_8_months(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(qd2025, D(2025, 2, 10), prior_cover=PriorCover.of([2019]))
    assert decision.waiting_months == 8
    assert decision.covered_from == D(2025, 10, 10)


def test_a_gap_of_4_years_never_waits_less_than_6_months(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(
        qd2025, D(2025, 2, 10), prior_cover=PriorCover.of([2020]), back_paid_months=48
    )
    assert decision.waiting_months == 6
    assert decision.covered_from == D(2025, 8, 10)


def test_a_gap_of_3_years_fully_repaired_waits_only_3_months(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(
        qd2025, D(2025, 2, 10), prior_cover=PriorCover.of([2021]), back_paid_months=36
    )
    assert decision.waiting_months == 3


def test_back_payment_longer_than_the_gap_is_refused(qd2025: MedicalPolicy) -> None:
    with pytest.raises(InvalidInput, match="exceed") as excinfo:
        coverage_start(
            qd2025, D(2025, 2, 10), prior_cover=PriorCover.of([2023]), back_paid_months=13
        )
    assert excinfo.value.field == "back_paid_months"


def test_back_payment_without_a_gap_is_refused(qd2025: MedicalPolicy) -> None:
    with pytest.raises(InvalidInput, match="back-paid"):
        coverage_start(qd2025, D(2025, 2, 10), prior_cover=CONTINUOUS_2025, back_paid_months=12)


# ---- newborns


def test_newborn_insured_in_the_first_year_is_covered_from_birth(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(
        qd2025,
        D(2025, 4, 20),
        prior_cover=PriorCover.first_enrolment(),
        newborn_birth_date=D(2025, 3, 5),
    )
    assert decision.rule is WaitRule.NEWBORN
    assert decision.covered_from == D(2025, 3, 5)


def test_newborn_born_last_year_is_covered_from_1_january(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(
        qd2025,
        D(2025, 2, 1),
        prior_cover=PriorCover.first_enrolment(),
        newborn_birth_date=D(2024, 11, 20),
    )
    assert decision.covered_from == D(2025, 1, 1)


def test_newborn_insured_after_the_first_year_waits_like_anyone(qd2025: MedicalPolicy) -> None:
    decision = coverage_start(
        qd2025,
        D(2025, 2, 11),
        prior_cover=PriorCover.first_enrolment(),
        newborn_birth_date=D(2024, 1, 10),
    )
    assert decision.rule is WaitRule.LATE_PAYMENT
    assert decision.covered_from == D(2025, 5, 11)


def test_birth_after_the_payment_is_refused(qd2025: MedicalPolicy) -> None:
    with pytest.raises(InvalidInput, match="birth date"):
        coverage_start(
            qd2025,
            D(2025, 2, 1),
            prior_cover=PriorCover.first_enrolment(),
            newborn_birth_date=D(2025, 2, 2),
        )
