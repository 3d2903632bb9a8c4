"""Injectable time. Every domain reads the time through ``now()``/``today()``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), name="Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that stands still until moved; for tests and what-if runs."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at

    def now(self) -> dt.datetime:
        return self._at

    def advance(self, **delta: float) -> None:
        self._at = self._at + dt.timedelta(**delta)

    def set(self, at: dt.datetime) -> None:
        self._at = at


_current: Clock = SystemClock()


def now() -> dt.datetime:
    """The current instant, timezone-aware (UTC unless a test clock says otherwise)."""
    return _current.now()


def today() -> dt.date:
    """Today's date in China (UTC+8): deadlines and ages are counted on the local date."""
    return _current.now().astimezone(CHINA_TZ).date()


def use_clock(clock: Clock) -> None:
    global _current
    _current = clock


def current_clock() -> Clock:
    return _current


@contextmanager
def clock_override(clock: Clock) -> Iterator[Clock]:
    previous = _current
    use_clock(clock)
    try:
        yield clock
    finally:
        use_clock(previous)
