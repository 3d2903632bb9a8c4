"""Server-drawn bar charts: bars scale to the largest value and nothing is drawn for zero."""

from __future__ import annotations

from yikatong.web.charts import HEIGHT, TOP, bar_chart


def test_the_largest_value_fills_the_plot_and_the_others_scale() -> None:
    chart = bar_chart(["2025-01", "2025-02", "2025-03"], (10, 0, 5))
    tallest, empty, half = chart.bars
    assert tallest.height == chart.baseline - TOP
    assert tallest.y == TOP
    assert empty.height == 0
    assert half.height == tallest.height / 2
    assert chart.baseline < HEIGHT and chart.peak == 10
    assert [label for _, label in chart.ticks] == ["2025-01", "2025-02", "2025-03"]


def test_missing_values_and_an_all_zero_series_draw_no_bars() -> None:
    assert all(bar.height == 0 for bar in bar_chart(["a", "b"], (None, 0)).bars)
    assert bar_chart([], ()).bars == ()
