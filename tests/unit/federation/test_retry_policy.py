"""Dispatcher backoff: exponential, capped, jittered into [½, 1] of the nominal delay."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given
from hypothesis import strategies as st

from yikatong.federation.dispatcher import RetryPolicy

POLICY = RetryPolicy(base=dt.timedelta(seconds=1), cap=dt.timedelta(minutes=5))


@given(attempts=st.integers(1, 60), seed=st.integers(0, 2**32))
def test_the_delay_doubles_per_attempt_up_to_the_cap_with_jitter(attempts: int, seed: int) -> None:
    nominal = min(300.0, 2.0 ** (attempts - 1))
    delay = POLICY.delay(attempts, random.Random(seed)).total_seconds()
    assert nominal / 2 <= delay <= nominal


def test_the_tenth_failure_waits_at_most_five_minutes() -> None:
    assert POLICY.delay(10, random.Random(1)) <= dt.timedelta(minutes=5)
