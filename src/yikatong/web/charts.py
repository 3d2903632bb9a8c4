"""Bar charts drawn on the server as inline SVG geometry (no script, no CDN): the template turns
the bars into ``<rect>`` elements and puts the same figures in a table beside the chart."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 560, 200
LEFT, BOTTOM, TOP = 8, 22, 12


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int | None


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    baseline: float
    bars: tuple[Bar, ...]
    peak: int
    # x positions of the few period labels drawn under the axis (first, middle, last)
    ticks: tuple[tuple[float, str], ...]


def bar_chart(labels: list[str] | tuple[str, ...], values: tuple[int | None, ...]) -> BarChart:
    """One bar per period, scaled to the largest value; a missing value draws no bar."""
    peak = max((v for v in values if v is not None), default=0)
    count = max(len(values), 1)
    plot_width = WIDTH - 2 * LEFT
    slot = plot_width / count
    gap = min(2.0, slot * 0.2)
    baseline = HEIGHT - BOTTOM
    usable = baseline - TOP
    bars = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = 0.0 if not value or peak <= 0 else usable * value / peak
        bars.append(
            Bar(
                x=round(LEFT + index * slot + gap / 2, 2),
                y=round(baseline - height, 2),
                width=round(max(slot - gap, 0.5), 2),
                height=round(height, 2),
                label=label,
                value=value,
            )
        )
    picks = sorted({0, (len(labels) - 1) // 2, len(labels) - 1}) if labels else []
    ticks = tuple((round(LEFT + (i + 0.5) * slot, 2), labels[i]) for i in picks)
    return BarChart(WIDTH, HEIGHT, baseline, tuple(bars), peak, ticks)
