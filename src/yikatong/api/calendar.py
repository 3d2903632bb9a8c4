"""The working-day calendar over HTTP: known years, a year's days off, deadlines."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from yikatong.api.auth import Principal, require
from yikatong.core import calendar
from yikatong.core.errors import InvalidInput

router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])
StaffDep = Annotated[Principal, require("clerk", "auditor", "admin")]


class CalendarYear(BaseModel):
    year: int
    source: str


class YearDays(BaseModel):
    year: int
    source: str
    weekdays_off: list[dt.date]
    weekend_days_worked: list[dt.date]


class Deadline(BaseModel):
    start: dt.date
    working_days: int
    ends_on: dt.date


@router.get("/years", response_model=list[CalendarYear])
def years(_: StaffDep) -> list[CalendarYear]:
    """Years with an official working-day calendar: the package's, or an imported notice."""
    return [
        CalendarYear(year=y, source=calendar.source_of(y) or "")
        for y in sorted(calendar.supported_years())
    ]


@router.get("/years/{year}", response_model=YearDays)
def year_days(year: int, _: StaffDep) -> YearDays:
    """What differs from a plain week in ``year``: weekdays off and weekend days worked (调休).
    422 ``calendar-unavailable`` for a year without an official notice."""
    if not 2000 <= year <= 2100:
        raise InvalidInput("year must be between 2000 and 2100", field="year")
    off, worked = calendar.year_summary(year)
    return YearDays(
        year=year,
        source=calendar.source_of(year) or "",
        weekdays_off=off,
        weekend_days_worked=worked,
    )


@router.get("/deadline", response_model=Deadline)
def deadline(
    _: StaffDep,
    start: Annotated[dt.date, Query(description="the day the clock starts (not counted)")],
    days: Annotated[int, Query(ge=0, le=366, description="working days allowed")],
) -> Deadline:
    """The day a deadline of ``days`` working days from ``start`` falls on."""
    if not 2000 <= start.year <= 2100:
        raise InvalidInput("start must be a day between 2000 and 2100", field="start")
    return Deadline(start=start, working_days=days, ends_on=calendar.add_working_days(start, days))
