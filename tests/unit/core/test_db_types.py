"""UTCDateTime's SQLite fast path stores exactly what the dialect's own conversion stores: a
row written by ``copy_rows`` must compare with the rest at the same microsecond."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from yikatong.core.db import UTCDateTime

_DIALECT = sqlite.dialect()


def _by_the_dialect(value: dt.datetime) -> object:
    naive = UTCDateTime().process_bind_param(value, _DIALECT)
    impl = DateTime(timezone=True).dialect_impl(_DIALECT).bind_processor(_DIALECT)
    assert impl is not None
    return impl(naive)


@given(
    st.datetimes(
        min_value=dt.datetime(1900, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.just(dt.UTC),
    ),
    st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_the_sqlite_text_is_the_dialects(at: dt.datetime, offset_minutes: int) -> None:
    local = at.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    fast = UTCDateTime().bind_processor(_DIALECT)
    assert fast is not None
    assert fast(local) == _by_the_dialect(local)
    assert fast(None) is None


def test_a_naive_time_is_refused() -> None:
    fast = UTCDateTime().bind_processor(_DIALECT)
    assert fast is not None
    with pytest.raises(ValueError, match="naive"):
        fast(dt.datetime(2026, 3, 10, 8, 0))
